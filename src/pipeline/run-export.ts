// Runs an export: plan the mapping runs, run them (a few at a time, the first failure stopping the rest),
// then close the sink and summarise. The sink belongs to the run from here on: it is closed when everything
// went well (its files are in the summary) and aborted (files removed) otherwise.
import PQueue from 'p-queue';
import { dialect } from '../connectors/registry.js';
import { elementSubsetter } from './elements.js';
import { ExportTally } from './export-tally.js';
import { planExport, type MappingRun } from './plan.js';
import { runMapping, type MappingRunContext } from './run-mapping.js';
import type { ExportRequest, ExportSummary } from './types.js';
import { ExportValidation } from './validate-resource.js';

export const DEFAULT_BATCH_SIZE = 500;

export async function runExport(req: ExportRequest): Promise<ExportSummary> {
  const started = performance.now();
  const batchSize = req.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  const plan = planExport(req);
  const tally = new ExportTally(plan, req.onProgress);
  const stop = linkedController(req.signal);
  const validation = req.validator ? new ExportValidation(req.validator) : undefined;
  const ctx: MappingRunContext = {
    adapter: req.adapter,
    sink: req.sink,
    batchSize,
    signal: stop.signal,
    tally,
    ...(req.elements && req.elements.length > 0 ? { subset: elementSubsetter(req.elements) } : {}),
    ...(req.retry ? { retry: req.retry } : {}),
    ...(req.onRetry ? { onRetry: req.onRetry } : {}),
    ...(validation ? { validate: validation.check } : {}),
  };

  const failure = await runAll(plan.runs, ctx, stop, concurrencyFor(req));
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
  };
  if (validation) summary.validation = validation.summary();
  if (plan.notes.length > 0) summary.notes = plan.notes;
  return summary;
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
