// The coordinator of an export cut into parts: plan once, hand every part to a runner (the warm worker pool
// or this thread), add up their progress, and when all are done assemble their files into the export's
// (assemble-parts.ts) and the summary. The first failing part aborts the others; then every part's files
// are removed. It only coordinates: rows, mapping and writing happen inside the parts.
import { setMaxListeners } from 'node:events';
import { rm } from 'node:fs/promises';
import type { OperationOutcome } from 'fhir/r4';
import type { SourceRowIssue } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import type { SinkResult } from '../sinks/types.js';
import { assembleParts } from './assemble-parts.js';
import { keyRanges, type SplitOptions } from './key-ranges.js';
import { partFilePrefix, type ExportPart, type KeyRange, type PartRequest, type PartResult } from './part.js';
import type { PartRunner } from './part-runner.js';
import { planParts, removePartFiles } from './run-part.js';
import { sourceIssueKey, sourceIssueOutcome } from './source-issues.js';
import { mergeValidationSummaries } from './validate-resource.js';
import { sourceIssueReason } from './export-tally.js';
import type { ExportProgress, ExportSummary } from './types.js';

export interface PartedExportRequest {
  exportId: string;
  /** the connector the parts open (undefined: the embedded sample) */
  connectorFile?: string;
  /** the compiled mapping set, as the parts will compile it (used here to plan) */
  mappings: CompiledMappingSet;
  request: PartRequest;
  runner: PartRunner;
  dir: string;
  /** prepended to every file name; '' for none */
  filePrefix?: string;
  gzip?: boolean;
  maxResourcesPerFile?: number;
  /** OperationOutcomes that open the error file (parameters ignored under handling=lenient) */
  leadingErrors?: OperationOutcome[];
  provenance?: ExportPart['provenance'];
  snapshot?: string;
  /** cut big mapping runs into key ranges read by separate parts (the source is read once here to find them) */
  split?: Omit<SplitOptions, 'signal'>;
  signal?: AbortSignal;
  onProgress?: (progress: ExportProgress) => void;
}

export async function runPartedExport(req: PartedExportRequest): Promise<ExportSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const batchSize = req.request.batchSize;
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1))
    throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  const prefix = req.filePrefix ?? '';
  const maxResourcesPerFile = req.maxResourcesPerFile ?? 100_000;
  const gzip = req.gzip ?? false;
  const plan = planParts(req.mappings, req.request);
  // Deleted resources are read in the export's snapshot, which parts do not share yet (run-export.ts does).
  if (plan.deletions.length > 0) throw new Error('a parted export cannot list deleted resources yet; run this export with runExport');
  // A big run may be cut into key ranges (one part each, in key order); otherwise a run is one part.
  const ranges: Array<Array<KeyRange | undefined>> = [];
  for (const run of plan.runs)
    ranges.push(
      (req.split ? await keyRanges(run, { ...req.split, ...(req.signal ? { signal: req.signal } : {}) }) : undefined) ?? [undefined],
    );
  const parts: ExportPart[] = plan.runs
    .flatMap((run, runIndex) => ranges[runIndex]!.map((range) => ({ run, runIndex, range })))
    .map(({ run, runIndex, range }, index) => ({
      exportId: req.exportId,
      index,
      ...(req.connectorFile ? { connectorFile: req.connectorFile } : {}),
      request: req.request,
      run: runIndex,
      mapping: run.mapping.name,
      dir: req.dir,
      filePrefix: partFilePrefix(prefix, index),
      gzip,
      maxResourcesPerFile,
      ...(req.snapshot ? { snapshot: req.snapshot } : {}),
      ...(req.provenance ? { provenance: req.provenance } : {}),
      ...(range ? { range } : {}),
    }));

  const progress = progressOf(
    plan.mappings.length,
    parts.map((p) => p.mapping),
    req.onProgress,
  );
  const stop = new AbortController();
  // every running part listens to it
  setMaxListeners(0, stop.signal);
  const onCallerAbort = (): void => stop.abort(req.signal!.reason);
  if (req.signal?.aborted) stop.abort(req.signal.reason);
  else req.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const leading = req.leadingErrors?.length ? await writeLeadingErrors(req.leadingErrors, req.dir, prefix) : undefined;
  let failure: unknown;
  const results: Array<PartResult | undefined> = await Promise.all(
    parts.map((part) =>
      req.runner
        .run(part, { signal: stop.signal, onProgress: (p) => progress.part(part.index, p.rowsRead, p.resourcesWritten) })
        .then((result) => {
          progress.done(part.index);
          return result;
        })
        .catch((err: unknown) => {
          if (failure === undefined) failure = stop.signal.aborted ? stop.signal.reason : err;
          stop.abort(failure);
          return undefined;
        }),
    ),
  );
  req.signal?.removeEventListener('abort', onCallerAbort);
  if (failure === undefined && stop.signal.aborted) failure = stop.signal.reason;
  if (failure !== undefined) {
    await Promise.all(parts.map((p) => removePartFiles(p)));
    if (leading) await removeFiles(leading);
    throw failure;
  }

  const done = results as PartResult[];
  const sourceIssues = uniqueSourceIssues(done);
  const lines = sourceIssues.length > 0 ? await writeSourceIssues(sourceIssues, req.dir, prefix) : undefined;
  const files = await assembleParts([...(leading ? [leading] : []), ...(lines ? [lines] : []), ...done.map((r) => r.files)], {
    dir: req.dir,
    filePrefix: prefix,
    maxResourcesPerFile,
    gzip,
  });
  const summary: ExportSummary = {
    counts: {},
    rowsRead: Object.fromEntries(plan.mappings.map((m) => [m.name, 0])),
    rejected: { total: 0, bySeverity: {}, byReason: {} },
    durationMs: 0,
    files,
    sources: {},
    // no snapshot: the time the export began, which a next `_since` export may only overlap
    transactionTime: startedAt.toISOString(),
    deleted: 0,
  };
  for (const issue of sourceIssues) {
    summary.rejected.total++;
    addCounts(summary.rejected.bySeverity, { [issue.severity]: 1 });
    addCounts(summary.rejected.byReason, { [sourceIssueReason(issue)]: 1 });
  }
  for (const r of done) {
    addSources(summary.sources!, r.sources);
    if (r.validation)
      summary.validation = mergeValidationSummaries(
        summary.validation ?? { resources: 0, rejected: 0, errors: {}, warnings: {}, mustSupport: {} },
        r.validation,
      );
    for (const [type, n] of Object.entries(r.counts)) summary.counts[type] = (summary.counts[type] ?? 0) + n;
    summary.rowsRead[r.mapping] = (summary.rowsRead[r.mapping] ?? 0) + r.rowsRead;
    summary.rejected.total += r.rejected.total;
    addCounts(summary.rejected.bySeverity, r.rejected.bySeverity);
    addCounts(summary.rejected.byReason, r.rejected.byReason);
  }
  if (plan.notes.length > 0) summary.notes = plan.notes;
  summary.durationMs = Math.round(performance.now() - started);
  return summary;
}

/** Each bad source line once, in file and line order (parts report the lines of the files they read). */
function uniqueSourceIssues(results: PartResult[]): SourceRowIssue[] {
  const byKey = new Map<string, SourceRowIssue>();
  for (const r of results)
    for (const issue of r.sourceIssues) if (!byKey.has(sourceIssueKey(issue))) byKey.set(sourceIssueKey(issue), issue);
  return [...byKey.values()].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line || (a.column ?? '').localeCompare(b.column ?? ''),
  );
}

async function writeSourceIssues(issues: SourceRowIssue[], dir: string, prefix: string): Promise<SinkResult> {
  return writeLeadingErrors(issues.map(sourceIssueOutcome), dir, prefix, `${prefix}~source.`);
}

function addSources(into: NonNullable<ExportSummary['sources']>, from: NonNullable<ExportSummary['sources']>): void {
  for (const [table, t] of Object.entries(from)) {
    into[table] ??= { read: 0, exported: 0, rejected: 0, mappings: {} };
    const entry = into[table];
    entry.read += t.read;
    entry.exported += t.exported;
    entry.rejected += t.rejected;
    for (const [mapping, m] of Object.entries(t.mappings)) {
      entry.mappings[mapping] ??= { read: 0, exported: 0, rejected: 0 };
      const e = entry.mappings[mapping];
      e.read += m.read;
      e.exported += m.exported;
      e.rejected += m.rejected;
    }
  }
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

async function writeLeadingErrors(
  outcomes: OperationOutcome[],
  dir: string,
  prefix: string,
  filePrefix = `${prefix}~lead.`,
): Promise<SinkResult> {
  const sink = createNdjsonSink({ dir, filePrefix });
  for (const o of outcomes) await sink.writeError(o);
  return sink.close();
}

async function removeFiles(result: SinkResult): Promise<void> {
  await Promise.all([...result.output, ...result.error].map((f) => rm(f.path, { force: true })));
}

/** Adds up the parts' progress into the export's; a mapping is done when its last part is. */
function progressOf(
  mappingsTotal: number,
  partMappings: string[],
  onProgress: ((p: ExportProgress) => void) | undefined,
): { part(index: number, rows: number, resources: number): void; done(index: number): void } {
  const rows = new Array<number>(partMappings.length).fill(0);
  const resources = new Array<number>(partMappings.length).fill(0);
  const partsLeft = new Map<string, number>();
  for (const m of partMappings) partsLeft.set(m, (partsLeft.get(m) ?? 0) + 1);
  let mappingsDone = 0;
  let totalRows = 0;
  let totalResources = 0;
  const report = (index: number): void =>
    onProgress?.({ mapping: partMappings[index]!, mappingsDone, mappingsTotal, rowsRead: totalRows, resourcesWritten: totalResources });
  return {
    part(index, r, res) {
      totalRows += r - rows[index]!;
      totalResources += res - resources[index]!;
      rows[index] = r;
      resources[index] = res;
      report(index);
    },
    done(index) {
      const mapping = partMappings[index]!;
      const left = partsLeft.get(mapping)! - 1;
      partsLeft.set(mapping, left);
      if (left === 0) mappingsDone++;
      report(index);
    },
  };
}
