// A PartRunner whose parts run in other processes: each part is sent to the pg-boss queue and taken by any
// `fhir-bridge worker` (or `serve --work`); the runner polls the queue for its parts' outcome, reports their
// progress (from the workers' heartbeats) and takes over a part whose worker stopped renewing its lease,
// failing it so that pg-boss retries it elsewhere. Cancelling (the signal) cancels the queued part; a worker
// running it sees the job cancelled at its next heartbeat and stops.
import { logger } from '../log.js';
import { reviveError, type SerializedError } from '../pipeline/part-errors.js';
import type { PartProgress, PartResult } from '../pipeline/part.js';
import type { PartRunner } from '../pipeline/part-runner.js';
import { openQueue, type OpenQueue } from './boss.js';
import { expireLease, pruneLeases, stalePartJobs, watchParts } from './lease.js';
import { PART_QUEUE, type PartJobData, type PartJobOutput, type QueueSettings } from './part-queue.js';

export interface QueuePartRunnerOptions {
  /** how often the parts' state is read (default 500 ms) */
  pollMs?: number;
  /** parts an export hands out at once; the workers set the real parallelism (default 64) */
  concurrency?: number;
}

export interface QueuePartRunner extends PartRunner {
  readonly queue: OpenQueue;
  close(): Promise<void>;
}

interface Pending {
  resolve(result: PartResult): void;
  reject(err: unknown): void;
  onProgress?: (p: PartProgress) => void;
  index: number;
  progress: string;
}

export async function createQueuePartRunner(settings: QueueSettings, options: QueuePartRunnerOptions = {}): Promise<QueuePartRunner> {
  const queue = await openQueue(settings);
  const { boss, db } = queue;
  const { schema, leaseSeconds, retryLimit } = queue.settings;
  await pruneLeases(db, schema).catch(() => undefined);
  const log = logger('queue');
  const pending = new Map<string, Pending>();
  let polling = false;

  const settle = (id: string, outcome: { result: PartResult } | { error: unknown }): void => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if ('result' in outcome) p.resolve(outcome.result);
    else p.reject(outcome.error);
  };

  const poll = async (): Promise<void> => {
    if (polling || pending.size === 0) return;
    polling = true;
    try {
      const ids = [...pending.keys()];
      const parts = await watchParts(db, schema, PART_QUEUE, ids, leaseSeconds);
      // a job deleted from the queue (purged by hand, archived) will never end: its part fails
      const seen = new Set(parts.map((p) => p.id));
      for (const id of ids)
        if (!seen.has(id)) settle(id, { error: new Error(`part job ${id} is no longer on the queue (deleted or archived)`) });
      for (const part of parts) {
        const p = pending.get(part.id);
        if (!p) continue;
        const output = part.output as PartJobOutput | { value?: { message?: string } } | null;
        if (part.state === 'completed' && output && 'ok' in output && output.ok) settle(part.id, { result: output.result });
        else if (part.state === 'failed' || part.state === 'completed') settle(part.id, { error: reviveError(failureOf(output, part.id)) });
        else if (part.state === 'cancelled') settle(part.id, { error: new Error(`part ${p.index} was cancelled on the queue`) });
        else {
          const progress = `${part.attempt}:${part.rowsRead}:${part.resourcesWritten}`;
          if (progress !== p.progress) {
            p.progress = progress;
            p.onProgress?.({ index: p.index, rowsRead: part.rowsRead, resourcesWritten: part.resourcesWritten });
          }
          if (part.overdue) await takeOver(part.id, part.attempt, p.index);
        }
      }
    } catch (err) {
      // the queue database may be restarting; the next poll tries again
      log.warn({ err: (err as Error).message }, 'reading the parts queue failed');
    } finally {
      polling = false;
    }
  };

  const takeOver = async (id: string, attempt: number, index: number): Promise<void> => {
    const lost = await expireLease(db, schema, id, attempt, leaseSeconds);
    if (!lost) return;
    const message = `part ${index}: worker ${lost.worker ?? '(none yet)'} stopped renewing its lease (attempt ${attempt + 1})`;
    log.warn({ job: id, worker: lost.worker, attempt }, 'part lease expired; the part goes back to the queue');
    const data: PartJobOutput = { ok: false, worker: lost.worker ?? '', error: { name: 'LeaseExpired', message } };
    await boss.fail(PART_QUEUE, id, data);
  };

  // An export run again (resumed after a restart of this node, or retried) first cancels the parts an
  // earlier run of it left on the queue; every part of one run shares its signal, so this happens once a run.
  const cleared = new WeakMap<AbortSignal, Promise<void>>();
  const clearEarlierRuns = (exportId: string, signal: AbortSignal): Promise<void> => {
    let done = cleared.get(signal);
    if (!done) {
      done = stalePartJobs(db, schema, exportId).then((ids) => (ids.length > 0 ? boss.cancel(PART_QUEUE, ids) : undefined));
      cleared.set(signal, done);
    }
    return done;
  };

  const timer = setInterval(() => void poll(), options.pollMs ?? 500);
  timer.unref();

  return {
    queue,
    concurrency: options.concurrency ?? 64,
    async run(part, { signal, onProgress }): Promise<PartResult> {
      signal.throwIfAborted();
      await clearEarlierRuns(part.exportId, signal);
      signal.throwIfAborted();
      const data: PartJobData = { part, leaseSeconds };
      const id = await boss.send(PART_QUEUE, data as unknown as object, { retryLimit, retryDelay: 0 });
      if (!id) throw new Error(`part ${part.index}: the queue refused it`);
      return new Promise<PartResult>((resolve, reject) => {
        const onAbort = (): void => {
          settle(id, { error: signal.reason });
          void boss
            .cancel(PART_QUEUE, id)
            .catch((err: unknown) => log.warn({ job: id, err: (err as Error).message }, 'cancelling a part failed'));
        };
        pending.set(id, {
          index: part.index,
          progress: '',
          ...(onProgress ? { onProgress } : {}),
          resolve: (r) => {
            signal.removeEventListener('abort', onAbort);
            resolve(r);
          },
          reject: (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        });
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    async close() {
      clearInterval(timer);
      for (const id of [...pending.keys()]) settle(id, { error: new Error('the queue runner was closed') });
      await queue.stop();
    },
  };
}

function failureOf(output: PartJobOutput | { value?: { message?: string } } | null, id: string): SerializedError {
  if (output && 'ok' in output && !output.ok) return output.error;
  const message = (output as { value?: { message?: string } } | null)?.value?.message;
  return { name: 'Error', message: `part job ${id} failed${message ? `: ${message}` : ''}` };
}
