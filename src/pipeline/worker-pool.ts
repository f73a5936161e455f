// The warm pool: piscina worker threads (part-worker.ts) that live as long as the process (a `serve` shares
// them between all its jobs; the CLI export makes one for its run), so a job pays no thread start and a
// thread opens a connector's source once. Needs the compiled worker (dist/pipeline/part-worker.js); under a
// TypeScript runner `canUsePool()` is false and callers use inProcessRunner instead.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { databaseOnThisMachine } from '../connectors/server-location.js';
import type { ConnectorConfig } from '../connectors/types.js';
import { collectIfMuchGarbage } from './collect-garbage.js';
import type { PartProgress, PartResult } from './part.js';
import { reviveError, type PartTaskResult } from './part-errors.js';
import type { PartPortMessage, PartTask } from './part-worker.js';
import type { PartRunner } from './part-runner.js';

const WORKER_URL = new URL('./part-worker.js', import.meta.url);

export function canUsePool(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

export interface PartPoolOptions {
  /** worker threads (default: the machine's cores) */
  workers?: number;
  /**
   * parts one thread runs at the same time (default 1): a part waits for its source between batches, and a
   * second part's mapping fills that wait. Each running part holds one batch of rows and its resources.
   */
  partsPerWorker?: number;
}

export interface PartPool extends PartRunner {
  readonly workers: number;
  /**
   * Opens the connector's source in every thread now (and builds each thread's profile validator when
   * `validate`), so the first export waits for neither and a source or validator that cannot load fails here.
   */
  warm(connectorFile: string | undefined, options?: { validate?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** each pool thread's young generation (V8 sizes it as three semi-spaces) */
const YOUNG_GENERATION_MIB = 3 * 8;

/**
 * Threads an export maps on unless told (`--workers`): the cores, less a quarter of them (at least one) when
 * the source is a database server on this machine, whose queries need cores too (server-location.ts: on 2
 * cores, two threads beside a local PostgreSQL were no faster than one and held 140 MiB more).
 */
export function defaultWorkers(source?: Pick<ConnectorConfig, 'kind' | 'connection'>): number {
  const cores = Math.max(1, availableParallelism());
  return source && databaseOnThisMachine(source) ? Math.max(1, cores - Math.ceil(cores / 4)) : cores;
}

export function createPartPool(options: PartPoolOptions = {}): PartPool {
  const workers = Math.max(1, options.workers ?? defaultWorkers());
  const perWorker = Math.max(1, options.partsPerWorker ?? 1);
  const pool = new Piscina<PartTask, PartTaskResult>({
    filename: WORKER_URL.href,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: perWorker,
    // tasks are async (they await the source); the default 'sync' mode would block a thread's event loop
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    maxQueue: Number.POSITIVE_INFINITY,
    // A thread's young generation defaults to 3 × 16 MiB semi-spaces, ~32 MiB of it resident once the thread
    // has allocated for a while; 8 MiB semi-spaces halve that at no measurable cost in CPU.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MIB },
  });
  return {
    workers,
    concurrency: workers * perWorker,
    async run(part, { signal, onProgress }): Promise<PartResult> {
      signal.throwIfAborted();
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (m: { type: 'progress'; progress: PartProgress }) => {
        if (m.type === 'progress') onProgress?.(m.progress);
      });
      // The part stops itself on an abort (its sink removes its files); aborting through piscina would
      // end the thread and lose its open source.
      const onAbort = (): void => {
        const message: PartPortMessage = { type: 'abort', reason: String((signal.reason as Error)?.message ?? signal.reason ?? 'aborted') };
        port1.postMessage(message);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        const answer = await pool.run({ kind: 'part', part, port: port2 }, { transferList: [port2] });
        if (!answer.ok) throw reviveError(answer.error);
        return answer.result!;
      } finally {
        signal.removeEventListener('abort', onAbort);
        port1.close();
        // this thread's garbage (the part's progress and result) too: it allocates too little for V8 to
        // collect it soon, so its heap would otherwise grow for the whole export
        collectIfMuchGarbage();
      }
    },
    async warm(connectorFile, { validate = false } = {}) {
      const answers = await Promise.all(
        Array.from({ length: workers }, () => pool.run({ kind: 'warm', ...(connectorFile ? { connectorFile } : {}), validate })),
      );
      const failed = answers.find((a) => !a.ok);
      if (failed && !failed.ok) throw reviveError(failed.error);
      collectIfMuchGarbage();
    },
    close: () => pool.close(),
  };
}
