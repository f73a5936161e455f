// The coordinator of an export cut into parts: plan once, hand every part to a runner (the warm worker pool
// or this thread) as soon as its run's key ranges are read (the next runs are cut meanwhile), add up their
// progress, and when all are done assemble their files into the export's (assemble-parts.ts) and the summary.
// The first failing part aborts the others; then every part's files are removed. It only coordinates: rows,
// mapping and writing happen inside the parts.
// A source whose snapshot can be shared (PostgreSQL) is read in one snapshot: the coordinator begins it,
// every part adopts it by id (part.snapshot), the coordinator holds it until the last part is done and reads
// the deleted rows of a `_since` export in it too; transactionTime is the snapshot's. When the snapshot is
// lost mid-export, parts fail rather than read later rows, and the whole export runs again in a new one.
import { setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import { rm } from 'node:fs/promises';
import type { OperationOutcome } from 'fhir/r4';
import { isSnapshotLost } from '../connectors/snapshot-lost.js';
import type { SourceAdapter, SourceRowIssue, SourceSnapshot } from '../connectors/types.js';
import { ConnectorError } from '../errors.js';
import { logger } from '../log.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import type { SinkResult } from '../sinks/types.js';
import { assembleParts } from './assemble-parts.js';
import { keyRanges, type SplitOptions } from './key-ranges.js';
import { partFilePrefix, type ExportPart, type KeyRange, type PartRequest, type PartResult } from './part.js';
import type { PartRunner } from './part-runner.js';
import { planParts, removePartFiles } from './run-part.js';
import { writeDeletions } from './run-export.js';
import type { ExportPlan } from './plan.js';
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
  /** cut big mapping runs into key ranges read by separate parts (the source is read once here to find them) */
  split?: Omit<SplitOptions, 'signal'>;
  /**
   * The coordinator's own open adapter of the same source. When it can share a snapshot (beginSnapshot and
   * adoptSnapshot) the export reads one; it also reads a `_since` export's deleted rows. Without it the
   * parts read the latest rows and the export cannot list deletions.
   */
  adapter?: SourceAdapter;
  signal?: AbortSignal;
  onProgress?: (progress: ExportProgress) => void;
}

export async function runPartedExport(req: PartedExportRequest): Promise<ExportSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const batchSize = req.request.batchSize;
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1))
    throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  if (req.request.since && req.adapter?.changesUnknown) throw new ConnectorError(`_since cannot be applied: ${req.adapter.changesUnknown}`);
  const prefix = req.filePrefix ?? '';
  const maxResourcesPerFile = req.maxResourcesPerFile ?? 100_000;
  const gzip = req.gzip ?? false;
  const plan = planParts(req.mappings, req.request);
  if (plan.deletions.length > 0 && !req.adapter)
    throw new Error('this export lists deleted resources: runPartedExport needs the source adapter to read them');
  const parts = partsOfRuns(req, plan, { prefix, gzip, maxResourcesPerFile });

  const leading = req.leadingErrors?.length ? await writeLeadingErrors(req.leadingErrors, req.dir, prefix) : undefined;
  let round: Round;
  for (let attempt = 1; ; attempt++) {
    try {
      round = await runRound(req, plan, parts, { prefix, maxResourcesPerFile, gzip });
      break;
    } catch (err) {
      if (isSnapshotLost(err) && attempt < SNAPSHOT_ATTEMPTS && !req.signal?.aborted) {
        // every part reads again, in one new snapshot: parts of two snapshots must not meet in one export
        logger('export').warn(
          { export: req.exportId, attempt, err: (err as Error).message },
          'source snapshot lost; exporting again in a new one',
        );
        continue;
      }
      if (leading) await removeFiles(leading);
      throw err;
    }
  }

  const done = round.results;
  const sourceIssues = uniqueSourceIssues(done);
  const lines = sourceIssues.length > 0 ? await writeSourceIssues(sourceIssues, req.dir, prefix) : undefined;
  const files = await assembleParts([...(leading ? [leading] : []), ...(lines ? [lines] : []), ...done.map((r) => r.files)], {
    dir: req.dir,
    filePrefix: prefix,
    maxResourcesPerFile,
    gzip,
  });
  if (round.deletedFiles?.length) files.deleted = round.deletedFiles;
  const summary: ExportSummary = {
    counts: {},
    rowsRead: Object.fromEntries(plan.mappings.map((m) => [m.name, 0])),
    rejected: { total: 0, bySeverity: {}, byReason: {} },
    durationMs: 0,
    files,
    sources: {},
    // without a snapshot: the time the export began, which a next `_since` export may only overlap
    transactionTime: (round.transactionTime ?? startedAt).toISOString(),
    deleted: round.deleted,
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
  const notes = [...plan.notes, ...round.notes];
  if (notes.length > 0) summary.notes = notes;
  summary.durationMs = Math.round(performance.now() - started);
  return summary;
}

/** Exports tried in a new snapshot when the one before was lost mid-export (then the export fails). */
const SNAPSHOT_ATTEMPTS = 3;

/** One run of every part, in one snapshot when the source can share one. */
interface Round {
  results: PartResult[];
  transactionTime?: Date;
  notes: string[];
  deleted: number;
  deletedFiles?: SinkResult['output'];
}

async function runRound(
  req: PartedExportRequest,
  plan: ExportPlan,
  parts: RunParts,
  files: { prefix: string; maxResourcesPerFile: number; gzip: boolean },
): Promise<Round> {
  const snapshot = await beginSharedSnapshot(req.adapter, plan.runs.length);
  try {
    const { parts: ran, results } = await runParts(req, plan, parts, snapshot?.id);
    let deleted = 0;
    let deletedFiles: SinkResult['output'] | undefined;
    if (plan.deletions.length > 0) {
      // read in the same snapshot as the parts (a reader that fails when it is gone, like theirs)
      const reader = snapshot?.id && req.adapter!.adoptSnapshot ? req.adapter!.adoptSnapshot(snapshot.id) : req.adapter!;
      const sink = createNdjsonSink({
        dir: req.dir,
        filePrefix: files.prefix,
        maxResourcesPerFile: files.maxResourcesPerFile,
        gzip: files.gzip,
      });
      try {
        deleted = await writeDeletions(plan.deletions, reader, sink, req.signal ?? new AbortController().signal);
        deletedFiles = (await sink.close()).deleted;
      } catch (err) {
        await sink.abort();
        await Promise.all(ran.map((p) => removePartFiles(p)));
        throw err;
      }
    }
    return {
      results,
      ...(snapshot ? { transactionTime: snapshot.transactionTime } : {}),
      notes: snapshot?.notes ?? [],
      deleted,
      ...(deletedFiles ? { deletedFiles } : {}),
    };
  } finally {
    await snapshot?.release();
  }
}

/**
 * The snapshot every part adopts, for a source that can share one. One that cannot begin because the source
 * is unreachable right now is left to the parts' retries (as runExport does): they read the latest rows.
 */
async function beginSharedSnapshot(adapter: SourceAdapter | undefined, parts: number): Promise<SourceSnapshot | undefined> {
  if (!adapter?.beginSnapshot || !adapter.adoptSnapshot) return undefined;
  try {
    const snapshot = await adapter.beginSnapshot({ concurrentReads: parts });
    if (snapshot.id) return snapshot;
    await snapshot.release();
    return undefined;
  } catch (err) {
    if (err instanceof ConnectorError && err.transient) return undefined;
    throw err;
  }
}

/**
 * Every part through the runner, run by run as their key ranges are read; the first failure stops the others
 * and removes every part's files. Results in part order.
 */
async function runParts(
  req: PartedExportRequest,
  plan: ExportPlan,
  runs: RunParts,
  snapshot: string | undefined,
): Promise<{ parts: ExportPart[]; results: PartResult[] }> {
  const progress = progressOf(plan, req.onProgress);
  const stop = new AbortController();
  // every running part listens to it
  setMaxListeners(0, stop.signal);
  const onCallerAbort = (): void => stop.abort(req.signal!.reason);
  if (req.signal?.aborted) stop.abort(req.signal.reason);
  else req.signal?.addEventListener('abort', onCallerAbort, { once: true });

  let failure: unknown;
  const fail = (err: unknown): void => {
    if (failure === undefined) failure = stop.signal.aborted ? stop.signal.reason : err;
    stop.abort(failure);
  };
  const runOne = (part: ExportPart): Promise<PartResult | undefined> =>
    req.runner
      .run(part, { signal: stop.signal, onProgress: (p) => progress.part(part.index, p.rowsRead, p.resourcesWritten) })
      .then((result) => {
        // the part's own tally is final: a progress message still in flight from its thread may never arrive
        progress.part(
          part.index,
          result.rowsRead,
          Object.values(result.counts).reduce((a, b) => a + b, 0),
        );
        progress.done(part.index);
        return result;
      })
      .catch((err: unknown) => {
        fail(err);
        return undefined;
      });
  // Runners take parts in the order they are handed them: the heaviest first, so that none is left running alone
  // at the end (longest-processing-time-first). Per row, a mapping with child queries costs several times a
  // plain one (it waits for each batch's child rows and maps them in): Synthea's eob, with three, came last in
  // plan order and ran alone for 7 of an export's 15 s.
  const weight = (run: number): number => plan.runs[run]!.mapping.children.length;
  const order = plan.runs.map((_, run) => run).sort((a, b) => weight(b) - weight(a) || a - b);
  // A run's parts are handed over as soon as its key ranges are read, and the next runs' ranges are read
  // meanwhile: the threads map the first parts instead of waiting for every run to be cut (at ×100 on
  // PostgreSQL, reading all the runs' keys first kept both threads idle for 4.7 s of a 58 s export).
  for (const run of order) void runs.of(run, stop.signal).catch(() => undefined);
  const started: Array<{ part: ExportPart; result: Promise<PartResult | undefined> }> = [];
  for (const run of order) {
    let parts: ExportPart[];
    try {
      parts = await runs.of(run, stop.signal);
    } catch (err) {
      fail(err);
      break;
    }
    if (stop.signal.aborted) break;
    progress.cut(run, parts);
    for (const template of parts) {
      const part = snapshot ? { ...template, snapshot } : template;
      started.push({ part, result: runOne(part) });
    }
  }
  started.sort((a, b) => a.part.index - b.part.index);
  const results = await Promise.all(started.map((s) => s.result));
  req.signal?.removeEventListener('abort', onCallerAbort);
  if (failure === undefined && stop.signal.aborted) failure = stop.signal.reason;
  if (failure !== undefined) {
    await Promise.all(started.map((s) => removePartFiles(s.part)));
    throw failure;
  }
  return { parts: started.map((s) => s.part), results: results as PartResult[] };
}

/** An export's parts, run by run: each plan run is one part, or one per key range when the export splits. */
interface RunParts {
  /**
   * run `run`'s parts in key order; its ranges are read once, stopped by the first caller's signal (a round's,
   * which the caller's own signal aborts too)
   */
  of(run: number, signal: AbortSignal): Promise<ExportPart[]>;
}

/** Key-range reads at once: each is one query on the source, beside the parts already running. */
const CUTS_AT_ONCE = 2;

function partsOfRuns(
  req: PartedExportRequest,
  plan: ExportPlan,
  files: { prefix: string; gzip: boolean; maxResourcesPerFile: number },
): RunParts {
  // Part numbers are fixed before any range is read, so they do not depend on which run is cut first: run r's
  // parts are numbered from r × slots (a run has at most partsPerRun ranges, and one more for NULL keys).
  const slots = req.split ? req.split.partsPerRun + 1 : 1;
  const cuts = new PQueue({ concurrency: CUTS_AT_ONCE });
  const known = new Map<number, Promise<ExportPart[]>>();
  const partsOf = (run: number, ranges: Array<KeyRange | undefined>): ExportPart[] =>
    ranges.map((range, i) => ({
      exportId: req.exportId,
      index: run * slots + i,
      ...(req.connectorFile ? { connectorFile: req.connectorFile } : {}),
      request: req.request,
      run,
      mapping: plan.runs[run]!.mapping.name,
      dir: req.dir,
      filePrefix: partFilePrefix(files.prefix, run * slots + i),
      gzip: files.gzip,
      maxResourcesPerFile: files.maxResourcesPerFile,
      ...(req.provenance ? { provenance: req.provenance } : {}),
      ...(range ? { range } : {}),
    }));
  return {
    of(run, signal) {
      let parts = known.get(run);
      if (!parts) {
        const split = req.split;
        parts = split
          ? cuts.add(async () => {
              // a cut still queued when its export stopped sends no query
              signal.throwIfAborted();
              return partsOf(run, (await keyRanges(plan.runs[run]!, { ...split, signal })) ?? [undefined]);
            })
          : Promise.resolve(partsOf(run, [undefined]));
        known.set(run, parts);
        // a read that failed (or was stopped with its export's round) is read again by the next caller
        parts.catch(() => known.delete(run));
      }
      return parts;
    },
  };
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
  plan: ExportPlan,
  onProgress: ((p: ExportProgress) => void) | undefined,
): { cut(run: number, parts: ExportPart[]): void; part(index: number, rows: number, resources: number): void; done(index: number): void } {
  const mappingOf = new Map<number, string>();
  const rows = new Map<number, number>();
  const resources = new Map<number, number>();
  // per mapping: its parts not done, counting each run not cut yet as one (so no mapping is done too early)
  const partsLeft = new Map<string, number>();
  for (const run of plan.runs) partsLeft.set(run.mapping.name, (partsLeft.get(run.mapping.name) ?? 0) + 1);
  const mappingsTotal = plan.mappings.length;
  let mappingsDone = 0;
  let totalRows = 0;
  let totalResources = 0;
  const report = (index: number): void =>
    onProgress?.({ mapping: mappingOf.get(index)!, mappingsDone, mappingsTotal, rowsRead: totalRows, resourcesWritten: totalResources });
  return {
    cut(run, parts) {
      const mapping = plan.runs[run]!.mapping.name;
      for (const p of parts) mappingOf.set(p.index, mapping);
      partsLeft.set(mapping, partsLeft.get(mapping)! + parts.length - 1);
    },
    part(index, r, res) {
      totalRows += r - (rows.get(index) ?? 0);
      totalResources += res - (resources.get(index) ?? 0);
      rows.set(index, r);
      resources.set(index, res);
      report(index);
    },
    done(index) {
      const mapping = mappingOf.get(index)!;
      const left = partsLeft.get(mapping)! - 1;
      partsLeft.set(mapping, left);
      if (left === 0) mappingsDone++;
      report(index);
    },
  };
}
