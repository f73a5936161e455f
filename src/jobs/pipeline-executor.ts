// The real job executor: a job's parameters become a pipeline ExportRequest over the server's open
// source, written by the NDJSON sink into the job's folder. Ignored (lenient) parameters go first into
// the error file, as the IG asks. The sink is wrapped to (a) hand the event loop back every few
// milliseconds, so status polls stay fast while a long CPU-bound export runs in the same process, and
// (b) add Provenance resources when `includeAssociatedData` asks for them.
import type { OperationOutcome } from 'fhir/r4';
import type { SourceAdapter } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { runExport } from '../pipeline/run-export.js';
import type { ExportProgress } from '../pipeline/types.js';
import { sharedValidator } from '../pipeline/validate-resource.js';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import { provenanceSink } from '../sinks/provenance-sink.js';
import type { ResourceSink } from '../sinks/types.js';
import { yieldingSink } from '../sinks/yielding-sink.js';
import type { JobExecutor } from './runner.js';
import { translateTypeFilters, type FilterProblems } from './type-filter.js';
import type { ExportJob } from './types.js';

// Queries were checked at kick-off (rejected, or dropped under handling=lenient); none is reported twice.
const IGNORE_PROBLEMS: FilterProblems = { unsupported: () => undefined };

export interface PipelineExecutorOptions {
  adapter: SourceAdapter;
  mappings: CompiledMappingSet;
  /** connector name, for Provenance.entity */
  sourceName?: string;
  maxResourcesPerFile?: number;
  /** store files gzipped (downloads are sent gzipped or inflated on the fly) */
  gzip?: boolean;
  /** longest stretch (ms) the export keeps the event loop before letting requests in (default 20) */
  yieldEveryMs?: number;
  /** validate each resource against its profile; failures go to the error file (default false here: the
   *  `serve` command turns it on unless --no-validate). The validator is the thread's shared one. */
  validate?: boolean;
}

export function pipelineExecutor(options: PipelineExecutorOptions): JobExecutor {
  return async ({ job, dir, signal, onProgress }) => {
    const { params } = job;
    const types = params.types;
    const { filters } = translateTypeFilters(params.typeFilters ?? [], options.mappings.mappings, types, IGNORE_PROBLEMS);
    const validator = options.validate ? await sharedValidator() : undefined;
    const files = createNdjsonSink({ dir, maxResourcesPerFile: options.maxResourcesPerFile ?? 100_000, gzip: options.gzip ?? false });
    let sink: ResourceSink = yieldingSink(files, options.yieldEveryMs ?? 20);
    if (params.includeAssociatedData?.length && !options.mappings.resourceTypes.includes('Provenance'))
      sink = provenanceSink(sink, {
        recorded: job.transactionTime ?? new Date().toISOString(),
        sourceName: options.sourceName ?? options.adapter.name,
      });
    for (const issue of job.ignored) {
      const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: [issue] };
      await sink.writeError(outcome);
    }
    const summary = await runExport({
      adapter: options.adapter,
      mappings: options.mappings,
      sink,
      types,
      ...(params.since ? { since: new Date(params.since) } : {}),
      ...(job.patientKeys ? { patientKeys: job.patientKeys } : {}),
      ...(Object.keys(filters).length ? { typeFilters: filters } : {}),
      ...(params.elements?.length ? { elements: params.elements } : {}),
      ...(validator ? { validator } : {}),
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

/** A job's X-Progress text (< 100 characters), whichever executor runs it. */
export function progressText(p: ExportProgress): string {
  return `${p.mappingsDone}/${p.mappingsTotal} mappings, ${p.rowsRead} rows read, ${p.resourcesWritten} resources`;
}

/** Types of the job that come from mappings without a lastUpdated column. */
export function sinceNotApplied(mappings: CompiledMappingSet, job: Pick<ExportJob, 'level' | 'params'>): string[] {
  const out = new Set<string>();
  for (const m of mappings.mappings) {
    if (m.source.lastUpdated || m.children.some((c) => c.lastUpdated) || (job.level !== 'system' && !m.source.patient)) continue;
    for (const t of m.resourceTypes) if (job.params.types.includes(t)) out.add(t);
  }
  return [...out];
}
