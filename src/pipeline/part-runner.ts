// Who runs an export's parts: the warm pool of worker threads (worker-pool.ts) or this thread
// (inProcessRunner, for tests under a TypeScript runner and sources that gain nothing from threads).
// The coordinator (run-parted-export.ts) hands every part to a runner at once; the runner queues them.
import PQueue from 'p-queue';
import { dialect } from '../connectors/registry.js';
import { collectIfMuchGarbage } from './collect-garbage.js';
import type { ExportPart, PartProgress, PartResult } from './part.js';
import { runPart, type PartSource } from './run-part.js';

export interface PartRunOptions {
  signal: AbortSignal;
  onProgress?: (progress: PartProgress) => void;
}

export interface PartRunner {
  /** parts that run at the same time */
  readonly concurrency: number;
  run(part: ExportPart, options: PartRunOptions): Promise<PartResult>;
}

export interface InProcessOptions {
  /** hand the event loop back at least this often (ms) while a part runs: a server's thread has requests to answer */
  yieldEveryMs?: number;
}

/** Runs parts on this thread, `concurrency` at a time, against an already open source. */
export function inProcessRunner(source: PartSource, concurrency: number, inProcess: InProcessOptions = {}): PartRunner {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  return {
    concurrency: Math.max(1, concurrency),
    run: (part, options) =>
      queue.add(() => {
        options.signal.throwIfAborted();
        // as a pool thread does: without it this thread's heap grew to ~3× what was live (V8 raises its
        // collection limit as the heap grows): a one-thread export of PostgreSQL ×20 peaked at 398 MiB, now 249
        return runPart(part, source, {
          ...options,
          ...(inProcess.yieldEveryMs !== undefined ? { yieldEveryMs: inProcess.yieldEveryMs } : {}),
          onProgress: (p) => {
            options.onProgress?.(p);
            collectIfMuchGarbage();
          },
        });
      }),
  };
}

/**
 * Parts spread over several runners (the pool, then this thread): each part, in the order they came, goes to
 * the first runner with a free slot. The CLI's coordinating thread is otherwise idle while the parts run (90 %
 * of its time in a profile), so it maps parts itself and one pool thread fewer — one V8 heap with its own
 * modules, compiled mappings and validator, ≈100 MiB — does the same work.
 */
export function combinedRunner(runners: PartRunner[]): PartRunner {
  const busy = runners.map(() => 0);
  const waiting: Array<(slot: number) => void> = [];
  const claim = (): number => {
    const slot = runners.findIndex((r, i) => busy[i]! < r.concurrency);
    if (slot !== -1) busy[slot]!++;
    return slot;
  };
  const release = (slot: number): void => {
    const next = waiting.shift();
    // the freed slot passes straight to the next waiting part, so no later part can take it first
    if (next) next(slot);
    else busy[slot]!--;
  };
  return {
    concurrency: runners.reduce((n, r) => n + r.concurrency, 0),
    async run(part, options) {
      let slot = claim();
      if (slot === -1) slot = await new Promise<number>((resolve) => waiting.push(resolve));
      try {
        options.signal.throwIfAborted();
        return await runners[slot]!.run(part, options);
      } finally {
        release(slot);
      }
    },
  };
}

/**
 * A pool's threads and this one, or this thread alone when there is no pool: how the CLI and `serve` run an
 * export's parts. This thread runs `concurrency` parts at a time: by default the source's exportConcurrency
 * alone, one beside a pool (it also coordinates, and a second part would hold a second batch in its heap).
 * Alone, two parts at once overlap one's mapping with the other's wait for the database: a one-thread
 * PostgreSQL ×100 export took 26.4 s one part at a time, 21.4 s two at a time (four: 24 s, more garbage).
 */
export function poolAndThisThread(
  pool: PartRunner | undefined,
  source: PartSource,
  options: InProcessOptions & { concurrency?: number } = {},
): PartRunner {
  const { concurrency, ...inProcess } = options;
  if (!pool) return inProcessRunner(source, concurrency ?? dialect(source.adapter.dialect).exportConcurrency, inProcess);
  return combinedRunner([pool, inProcessRunner(source, concurrency ?? 1, inProcess)]);
}
