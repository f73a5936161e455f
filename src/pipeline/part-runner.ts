// Who runs an export's parts: the warm pool of worker threads (worker-pool.ts) or this thread
// (inProcessRunner, for tests under a TypeScript runner and sources that gain nothing from threads).
// The coordinator (run-parted-export.ts) hands every part to a runner at once; the runner queues them.
import PQueue from 'p-queue';
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

/** Runs parts on this thread, `concurrency` at a time, against an already open source. */
export function inProcessRunner(source: PartSource, concurrency: number): PartRunner {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  return {
    concurrency: Math.max(1, concurrency),
    run: (part, options) =>
      queue.add(() => {
        options.signal.throwIfAborted();
        return runPart(part, source, options);
      }),
  };
}
