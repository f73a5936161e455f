// Runs an export: plan the mapping runs, run them (a few at a time, the first failure stopping the rest),
// then close the sink and summarise. The sink belongs to the run from here on: it is closed when everything
// went well (its files are in the summary) and aborted (files removed) otherwise.
import PQueue from 'p-queue';
import { dialect } from '../connectors/registry.js';
import { drivingTable } from '../mapping/source-tables.js';
import { elementSubsetter } from './elements.js';
import { ExportTally } from './export-tally.js';
import { ConnectorError } from '../errors.js';
import type { SourceAdapter, SourceSnapshot } from '../connectors/types.js';
import type { DeletedBundle, ResourceSink } from '../sinks/types.js';
import { planExport, type DeletionRun, type ExportPlan, type MappingRun } from './plan.js';
import { runMapping, type MappingRunContext } from './run-mapping.js';
import { SourceIssueLog } from './source-issues.js';
import type { ExportRequest, ExportSummary } from './types.js';
import { ExportValidation } from './validate-resource.js';

export const DEFAULT_BATCH_SIZE = 500;

export async function runExport(req: ExportRequest): Promise<ExportSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const batchSize = req.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  let snapshot: SourceSnapshot | undefined;
  let plan: ExportPlan;
  try {
    if (req.since && req.adapter.changesUnknown) throw new ConnectorError(`_since cannot be applied: ${req.adapter.changesUnknown}`);
    plan = planExport(req);
    if (plan.deletions.length > 0 && !req.sink.writeDeleted)
      throw new Error('this export lists deleted resources; its sink cannot write them');
    if ((req.snapshot ?? true) && req.adapter.beginSnapshot) snapshot = await beginSnapshot(req);
  } catch (err) {
    await req.sink.abort();
    throw err;
  }
  try {
    return await runPlan(req, plan, snapshot, started, startedAt, batchSize);
  } finally {
    await snapshot?.release();
  }
}

/**
 * The source's snapshot. A source that cannot be reached right now (a transient failure) is left to the
 * mapping runs, which retry and, if it stays away, fail naming the mapping and the query; read without a
 * snapshot, transactionTime is the time the export started, which a next `_since` export may only overlap.
 */
async function beginSnapshot(req: ExportRequest): Promise<SourceSnapshot | undefined> {
  try {
    // per mapping run at once: its parent scan and its child queries, which a database server answers together
    const children = Math.max(1, ...req.mappings.mappings.map((m) => m.children.length));
    return await req.adapter.beginSnapshot!({ concurrentReads: (1 + children) * concurrencyFor(req) });
  } catch (err) {
    if (err instanceof ConnectorError && err.transient) return undefined;
    throw err;
  }
}

async function runPlan(
  req: ExportRequest,
  plan: ExportPlan,
  snapshot: SourceSnapshot | undefined,
  started: number,
  startedAt: Date,
  batchSize: number,
): Promise<ExportSummary> {
  const tally = new ExportTally(plan, req.onProgress);
  const stop = linkedController(req.signal);
  const adapter = snapshot?.adapter ?? req.adapter;
  const validation = req.validator ? new ExportValidation(req.validator) : undefined;
  const ctx: MappingRunContext = {
    adapter,
    sink: req.sink,
    batchSize,
    signal: stop.signal,
    tally,
    sourceIssues: new SourceIssueLog(req.sink, tally),
    ...(req.elements && req.elements.length > 0 ? { subset: elementSubsetter(req.elements) } : {}),
    ...(req.retry ? { retry: req.retry } : {}),
    ...(req.onRetry ? { onRetry: req.onRetry } : {}),
    ...(validation ? { validate: validation.check } : {}),
  };

  let failure = await runAll(plan.runs, ctx, stop, concurrencyFor(req));
  let deleted = 0;
  if (failure === undefined) {
    try {
      deleted = await writeDeletions(plan.deletions, adapter, req.sink, stop.signal);
    } catch (err) {
      failure = err;
    }
  }
  stop.dispose();
  if (failure !== undefined) {
    await req.sink.abort();
    throw failure;
  }
  const files = await closeSink(req);
  const summary: ExportSummary = {
    counts: tally.counts,
    rowsRead: tally.rowsRead,
    rejected: tally.rejected,
    durationMs: Math.round(performance.now() - started),
    files,
    sources: tally.sources((m) => drivingTable(m.source.query, req.adapter.dialect) ?? m.source.label),
    transactionTime: (snapshot?.transactionTime ?? startedAt).toISOString(),
    deleted,
  };
  if (validation) summary.validation = validation.summary();
  const notes = [...plan.notes, ...(snapshot?.notes ?? [])];
  if (notes.length > 0) summary.notes = notes;
  return summary;
}

/**
 * The deleted rows of a `_since` export as transaction Bundles of DELETE entries, one Bundle per row, with
 * the ids the row's resources had (the mapping's id rule applied to the key the tombstone kept).
 */
export async function writeDeletions(
  deletions: DeletionRun[],
  adapter: SourceAdapter,
  sink: ResourceSink,
  signal: AbortSignal,
): Promise<number> {
  let count = 0;
  for (const d of deletions) {
    for await (const row of adapter.stream(d.query, { signal })) {
      const key = d.key.map((k) => row[k]);
      const entry: DeletedBundle['entry'] = [];
      for (const type of d.types) {
        const id = d.mapping.idFor(type, key);
        if (id !== undefined) entry.push({ request: { method: 'DELETE', url: `${type}/${id}` } });
      }
      if (entry.length === 0) continue;
      await sink.writeDeleted!({ resourceType: 'Bundle', type: 'transaction', entry });
      count += entry.length;
    }
  }
  return count;
}

/** Embedded sources gain nothing from parallel readers (one file, one core); database servers do. */
function concurrencyFor(req: ExportRequest): number {
  const concurrency = req.concurrency ?? dialect(req.adapter.dialect).exportConcurrency;
  return Math.max(1, concurrency);
}

/**
 * One controller for the whole run, aborted by the caller's signal or by the first failing mapping run, so a
 * failure anywhere stops every run.
 */
function linkedController(callerSignal: AbortSignal | undefined): AbortController & { dispose(): void } {
  const stop = new AbortController();
  const onCallerAbort = (): void => stop.abort(callerSignal!.reason);
  if (callerSignal?.aborted) stop.abort(callerSignal.reason);
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  return Object.assign(stop, { dispose: () => callerSignal?.removeEventListener('abort', onCallerAbort) });
}

/** Runs every mapping run, `concurrency` at a time; returns the first failure (or the abort reason). */
async function runAll(runs: MappingRun[], ctx: MappingRunContext, stop: AbortController, concurrency: number): Promise<unknown> {
  const queue = new PQueue({ concurrency });
  let failure: unknown;
  await Promise.all(
    runs.map((run) =>
      queue.add(async () => {
        if (stop.signal.aborted) return;
        try {
          await runMapping(run, ctx);
        } catch (err) {
          if (failure === undefined) failure = stop.signal.aborted ? stop.signal.reason : err;
          stop.abort(failure);
        }
      }),
    ),
  );
  if (failure === undefined && stop.signal.aborted) failure = stop.signal.reason;
  return failure;
}

async function closeSink(req: ExportRequest): Promise<ExportSummary['files']> {
  try {
    return await req.sink.close();
  } catch (err) {
    await req.sink.abort();
    throw err;
  }
}
