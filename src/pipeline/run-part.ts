// Runs one part (part.ts) against an open source: re-plans the export from the part's request, reads the
// part's mapping run through runMapping into an NDJSON sink of the part's own, and reports what it wrote.
// Files an earlier try of the same part left are removed first, so a retried part replaces its output.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { logger } from '../log.js';
import type { SourceAdapter } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import { provenanceSink } from '../sinks/provenance-sink.js';
import type { ResourceSink } from '../sinks/types.js';
import { yieldingSink } from '../sinks/yielding-sink.js';
import { elementSubsetter } from './elements.js';
import { ExportTally } from './export-tally.js';
import type { ExportPart, PartProgress, PartResult, PartRequest } from './part.js';
import { planExport, type ExportPlan } from './plan.js';
import { DEFAULT_BATCH_SIZE } from './run-export.js';
import { runMapping } from './run-mapping.js';
import { SourceIssueCollector } from './source-issues.js';
import { ExportValidation, sharedValidator } from './validate-resource.js';
import { drivingTable } from '../mapping/source-tables.js';
import { sliceRun } from './key-ranges.js';

export interface PartSource {
  adapter: SourceAdapter;
  mappings: CompiledMappingSet;
}

export interface RunPartOptions {
  signal?: AbortSignal;
  onProgress?: (progress: PartProgress) => void;
  /** hand the event loop back at least this often (ms): a part on a server's own thread, between its requests */
  yieldEveryMs?: number;
}

/** The plan every part of an export is cut from; the coordinator and each part compute the same one. */
export function planParts(mappings: CompiledMappingSet, request: PartRequest): ExportPlan {
  return planExport({
    mappings,
    ...(request.types ? { types: request.types } : {}),
    ...(request.since ? { since: new Date(request.since) } : {}),
    ...(request.patientKeys ? { patientKeys: request.patientKeys } : {}),
    ...(request.typeFilters ? { typeFilters: request.typeFilters } : {}),
  });
}

export async function runPart(part: ExportPart, source: PartSource, options: RunPartOptions = {}): Promise<PartResult> {
  const plan = planParts(source.mappings, part.request);
  const planned = plan.runs[part.run];
  if (!planned || planned.mapping.name !== part.mapping)
    throw new Error(
      `part ${part.index} of export ${part.exportId}: run ${part.run} is not mapping ${part.mapping} here (different mappings?)`,
    );
  const run = sliceRun(planned, part.range);
  const adapter = partAdapter(part, source.adapter);
  const signal = options.signal ?? new AbortController().signal;
  await removePartFiles(part);
  const files = createNdjsonSink({
    dir: part.dir,
    filePrefix: part.filePrefix,
    maxResourcesPerFile: part.maxResourcesPerFile,
    gzip: part.gzip,
  });
  const written = options.yieldEveryMs === undefined ? files : yieldingSink(files, options.yieldEveryMs);
  const sink: ResourceSink = part.provenance ? provenanceSink(written, part.provenance) : written;
  let rowsRead = 0;
  let resourcesWritten = 0;
  const tally = new ExportTally({ runs: [run], mappings: [run.mapping], notes: [], deletions: [] }, (p) => {
    rowsRead = p.rowsRead;
    resourcesWritten = p.resourcesWritten;
    options.onProgress?.({ index: part.index, rowsRead, resourcesWritten });
  });
  const { request } = part;
  const sourceIssues = new SourceIssueCollector();
  const validation = request.validate ? new ExportValidation(await sharedValidator()) : undefined;
  try {
    await runMapping(run, {
      adapter,
      sink,
      batchSize: request.batchSize ?? DEFAULT_BATCH_SIZE,
      signal,
      tally,
      sourceIssues,
      ...(validation ? { validate: validation.check } : {}),
      ...(request.elements && request.elements.length > 0 ? { subset: elementSubsetter(request.elements) } : {}),
      ...(request.retry ? { retry: request.retry } : {}),
      onRetry: ({ mapping, error, attempt, rowsWritten }) =>
        logger('export').warn({ mapping, attempt, rowsWritten, err: error.message }, 'source failed, retrying the rest of the query'),
    });
  } catch (err) {
    await sink.abort();
    throw err;
  }
  const result = await sink.close();
  return {
    index: part.index,
    mapping: part.mapping,
    files: result,
    counts: tally.counts,
    rowsRead: tally.rowsRead[run.mapping.name] ?? 0,
    rejected: tally.rejected,
    sources: tally.sources((m) => drivingTable(m.source.query, source.adapter.dialect) ?? m.source.label) ?? {},
    sourceIssues: sourceIssues.issues,
    ...(validation ? { validation: validation.summary() } : {}),
  };
}

/** The part's reader: in the export's shared snapshot when the coordinator began one (part.snapshot). */
function partAdapter(part: ExportPart, adapter: SourceAdapter): SourceAdapter {
  if (part.snapshot === undefined) return adapter;
  if (!adapter.adoptSnapshot)
    throw new Error(`part ${part.index} of export ${part.exportId}: source ${adapter.name} cannot adopt a shared snapshot`);
  return adapter.adoptSnapshot(part.snapshot);
}

/** Removes what an earlier try of this part wrote (a part's files all start with its prefix). */
export async function removePartFiles(part: Pick<ExportPart, 'dir' | 'filePrefix'>): Promise<void> {
  const names = await readdir(part.dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(part.filePrefix)).map((n) => rm(join(part.dir, n), { force: true })));
}
