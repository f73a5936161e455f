// A worker process's loop: take parts from the queue (at most `concurrency` at once), hold each one's lease
// with a heartbeat, run it with runPart against the part's connector (opened once per connector file and
// kept), and complete the job with the PartResult, or fail it with the error (pg-boss retries it). A part
// whose lease was lost (this process stalled longer than the lease, and the coordinator gave the part to
// another worker) or whose job was cancelled is stopped, and its result, if any, is dropped.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type PgBoss from 'pg-boss';
import { logger } from '../log.js';
import { PartSources } from '../pipeline/open-source.js';
import { serializeError } from '../pipeline/part-errors.js';
import { runPart, removePartFiles } from '../pipeline/run-part.js';
import type { ExportPart } from '../pipeline/part.js';
import { openQueue, type OpenQueue } from './boss.js';
import { endLease, renewLease, takeLease, type LeaseKey } from './lease.js';
import { PART_QUEUE, type PartJobData, type PartJobOutput, type QueueSettings } from './part-queue.js';

export interface QueueWorkerOptions {
  /** names this worker in leases and job outputs (default host:pid) */
  id?: string;
  /** parts run at the same time (default 1) */
  concurrency?: number;
  /** how long an empty queue is waited on before asking again (default 500 ms) */
  pollMs?: number;
}

export interface QueueWorker {
  readonly id: string;
  /** stops taking parts and waits for the running ones (or stops them when `abort`) */
  stop(options?: { abort?: boolean }): Promise<void>;
}

export function defaultWorkerId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * Each attempt writes under a prefix of its own (job and attempt), so neither a stalled earlier attempt nor a
 * stale job of an earlier run of the export can touch its files.
 */
export function attemptPart(part: ExportPart, jobId: string, attempt: number): ExportPart {
  return { ...part, filePrefix: `${part.filePrefix}${jobId.slice(0, 8)}-${attempt}.` };
}

export async function startQueueWorker(settings: QueueSettings, options: QueueWorkerOptions = {}): Promise<QueueWorker> {
  const queue: OpenQueue = await openQueue(settings);
  const { boss, db } = queue;
  const { schema } = queue.settings;
  const id = options.id ?? defaultWorkerId();
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const log = logger('worker').child({ worker: id });
  const sources = new PartSources();
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let stopping = false;
  const wake = { resolve: (): void => undefined };

  const runJob = async (job: PgBoss.JobWithMetadata<PartJobData>, controller: AbortController): Promise<void> => {
    const { part, leaseSeconds } = job.data;
    const key: LeaseKey = { jobId: job.id, attempt: job.retryCount, worker: id };
    if (!(await takeLease(db, schema, key))) {
      log.warn({ job: job.id, part: part.index }, 'part was given up before this worker could take it; skipping');
      return;
    }
    log.info({ job: job.id, export: part.exportId, part: part.index, mapping: part.mapping, attempt: key.attempt }, 'part taken');
    let rows = 0;
    let resources = 0;
    const heartbeat = setInterval(
      () =>
        void renewLease(db, schema, PART_QUEUE, key, { rows, resources })
          .then((held) => {
            if (!held && !controller.signal.aborted) controller.abort(new Error(`part ${part.index}: lease lost or job cancelled`));
          })
          // a failed renewal (database blip) is retried at the next beat; the lease only ends if none succeeds
          .catch((err: unknown) => log.warn({ job: job.id, err: (err as Error).message }, 'lease renewal failed')),
      Math.max(250, (leaseSeconds * 1000) / 4),
    );
    let output: PartJobOutput;
    try {
      // earlier attempts' files (a worker that died) go; this attempt writes under its own prefix
      await removePartFiles(part);
      const source = await sources.get(part.connectorFile);
      const result = await runPart(attemptPart(part, job.id, key.attempt), source, {
        signal: controller.signal,
        onProgress: (p) => {
          rows = p.rowsRead;
          resources = p.resourcesWritten;
        },
      });
      output = { ok: true, worker: id, result };
    } catch (err) {
      output = { ok: false, worker: id, error: serializeError(controller.signal.aborted ? controller.signal.reason : err) };
    } finally {
      clearInterval(heartbeat);
    }
    if (!(await endLease(db, schema, key, output.ok ? 'done' : 'failed'))) {
      log.warn({ job: job.id, part: part.index }, 'lease was lost; the part runs elsewhere and this result is dropped');
      if (output.ok) await removePartFiles(attemptPart(part, job.id, key.attempt));
      return;
    }
    if (output.ok) await boss.complete(PART_QUEUE, job.id, output);
    else await boss.fail(PART_QUEUE, job.id, output);
    log.info({ job: job.id, part: part.index, ok: output.ok, ...(output.ok ? {} : { err: output.error.message }) }, 'part ended');
  };

  const loop = async (): Promise<void> => {
    while (!stopping) {
      if (running.size >= concurrency) {
        await new Promise<void>((resolve) => {
          wake.resolve = resolve;
        });
        continue;
      }
      let jobs: Array<PgBoss.JobWithMetadata<PartJobData>>;
      try {
        jobs = await boss.fetch<PartJobData>(PART_QUEUE, { batchSize: 1, includeMetadata: true });
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'taking a part from the queue failed; trying again');
        await sleep(2000);
        continue;
      }
      const job = jobs[0];
      if (!job) {
        await sleep(options.pollMs ?? 500);
        continue;
      }
      const controller = new AbortController();
      const done = runJob(job, controller)
        .catch((err: unknown) => log.error({ job: job.id, err: (err as Error).message }, 'part bookkeeping failed; its lease will expire'))
        .finally(() => {
          running.delete(job.id);
          wake.resolve();
        });
      running.set(job.id, { controller, done });
    }
  };
  const looping = loop();
  log.info({ concurrency }, 'worker taking parts');

  return {
    id,
    async stop({ abort = false } = {}) {
      stopping = true;
      wake.resolve();
      if (abort) for (const r of running.values()) r.controller.abort(new Error('worker stopping'));
      await looping;
      await Promise.all([...running.values()].map((r) => r.done));
      await queue.stop();
      await sources.closeAll();
    },
  };
}
