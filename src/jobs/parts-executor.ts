// The job executor of a `serve` whose source runs as parts: a job's parameters become a parted export (the
// parts run on the runner serve gives it, its own thread between requests and the warm pool's threads, shared
// by every job of the server), written into the job's folder; a job pays no thread start. Ignored (lenient)
// parameters open the error file, as the IG asks.
import type { OperationOutcome } from 'fhir/r4';
import type { SourceAdapter } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import type { SplitOptions } from '../pipeline/key-ranges.js';
import type { PartRunner } from '../pipeline/part-runner.js';
import { runPartedExport } from '../pipeline/run-parted-export.js';
import { progressText, sinceNotApplied } from './pipeline-executor.js';
import type { JobExecutor } from './runner.js';
import { translateTypeFilters, type FilterProblems } from './type-filter.js';

// Queries were checked at kick-off (rejected, or dropped under handling=lenient); none is reported twice.
const IGNORE_PROBLEMS: FilterProblems = { unsupported: () => undefined };

export interface PartsExecutorOptions {
  runner: PartRunner;
  /** the server's open adapter: begins the snapshot the parts share and reads a `_since` export's deletions */
  adapter?: SourceAdapter;
  /** the connector the parts open (undefined: the embedded sample) */
  connectorFile?: string;
  /** the server's compiled mappings (the parts compile the same connector's) */
  mappings: CompiledMappingSet;
  /** connector name, for Provenance.entity */
  sourceName: string;
  maxResourcesPerFile?: number;
  gzip?: boolean;
  /** parent rows per batch */
  batchSize?: number;
  /** validate each resource against its profile in the parts (each pool thread has its validator) */
  validate?: boolean;
  /** cut big mappings into key ranges, one part each (worth it when parts run on several processes) */
  split?: Omit<SplitOptions, 'signal'>;
  /**
   * Runs the jobs parts cannot run yet: `_since` exports, whose deleted resources are read in the export's
   * one snapshot (run-parted-export.ts). Without it such a job fails when a mapping lists deletions.
   */
  sinceExecutor?: JobExecutor;
}

export function partsExecutor(options: PartsExecutorOptions): JobExecutor {
  return async (execution) => {
    const { job, dir, signal, onProgress } = execution;
    const { params } = job;
    if (params.since && options.sinceExecutor) return options.sinceExecutor(execution);
    const { filters } = translateTypeFilters(params.typeFilters ?? [], options.mappings.mappings, params.types, IGNORE_PROBLEMS);
    const leadingErrors: OperationOutcome[] = job.ignored.map((issue) => ({ resourceType: 'OperationOutcome', issue: [issue] }));
    const provenance =
      params.includeAssociatedData?.length && !options.mappings.resourceTypes.includes('Provenance')
        ? { recorded: job.transactionTime ?? new Date().toISOString(), sourceName: options.sourceName }
        : undefined;
    const summary = await runPartedExport({
      exportId: job.id,
      ...(options.connectorFile ? { connectorFile: options.connectorFile } : {}),
      mappings: options.mappings,
      request: {
        types: params.types,
        ...(params.since ? { since: new Date(params.since).toISOString() } : {}),
        ...(job.patientKeys ? { patientKeys: job.patientKeys } : {}),
        ...(Object.keys(filters).length ? { typeFilters: filters } : {}),
        ...(params.elements?.length ? { elements: params.elements } : {}),
        ...(options.batchSize ? { batchSize: options.batchSize } : {}),
        ...(options.validate ? { validate: true } : {}),
      },
      runner: options.runner,
      ...(options.adapter ? { adapter: options.adapter } : {}),
      dir,
      maxResourcesPerFile: options.maxResourcesPerFile ?? 100_000,
      gzip: options.gzip ?? false,
      leadingErrors,
      ...(provenance ? { provenance } : {}),
      ...(options.split ? { split: options.split } : {}),
      signal,
      onProgress: (p) => onProgress(progressText(p)),
    });
    return {
      files: summary.files,
      sinceNotApplied: params.since ? sinceNotApplied(options.mappings, job) : [],
      transactionTime: summary.transactionTime,
    };
  };
}
