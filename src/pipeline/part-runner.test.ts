import { describe, expect, it } from 'vitest';
import type { ExportPart, PartResult } from './part.js';
import { combinedRunner, type PartRunner, poolAndThisThread } from './part-runner.js';

/** A runner that records which parts it ran and how many at once, each part taking `ms`. */
function timedRunner(name: string, concurrency: number, ms: number, log: string[]) {
  let running = 0;
  let most = 0;
  const runner: PartRunner = {
    concurrency,
    async run(part) {
      running++;
      most = Math.max(most, running);
      log.push(`${name}:${part.index}`);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return { index: part.index } as unknown as PartResult;
    },
  };
  return { runner, most: () => most };
}

const parts = (n: number) => Array.from({ length: n }, (_, index) => ({ index }) as ExportPart);

describe('combinedRunner', () => {
  it('gives each part, in order, to the first runner with a free slot, never more than each runs at once', async () => {
    const log: string[] = [];
    const pool = timedRunner('pool', 2, 20, log);
    const here = timedRunner('here', 1, 5, log);
    const runner = combinedRunner([pool.runner, here.runner]);
    expect(runner.concurrency).toBe(3);
    const signal = new AbortController().signal;
    const results = await Promise.all(parts(12).map((p) => runner.run(p, { signal })));
    expect(results.map((r) => r.index)).toEqual(parts(12).map((p) => p.index));
    // the first three fill the pool, then this thread; the faster runner then takes more of the rest
    expect(log.slice(0, 3)).toEqual(['pool:0', 'pool:1', 'here:2']);
    expect(log.map((l) => Number(l.split(':')[1]))).toEqual(parts(12).map((p) => p.index));
    expect(pool.most()).toBe(2);
    expect(here.most()).toBe(1);
    expect(log.filter((l) => l.startsWith('here')).length).toBeGreaterThan(log.filter((l) => l.startsWith('pool')).length / 2);
  });

  it('fails the parts still waiting once the export is aborted, without running them', async () => {
    const log: string[] = [];
    const runner = combinedRunner([timedRunner('pool', 1, 20, log).runner, timedRunner('here', 1, 20, log).runner]);
    const stop = new AbortController();
    const runs = parts(5).map((p) =>
      runner.run(p, { signal: stop.signal }).then(
        () => 'done',
        (e: Error) => e.message,
      ),
    );
    stop.abort(new Error('cancelled'));
    expect(await Promise.all(runs)).toEqual(['done', 'done', 'cancelled', 'cancelled', 'cancelled']);
    expect(log).toEqual(['pool:0', 'here:1']);
  });
});

describe('poolAndThisThread', () => {
  const source = (dialect: string) => ({ adapter: { dialect }, mappings: {} }) as unknown as Parameters<typeof poolAndThisThread>[1];

  it("alone, runs the source's exportConcurrency parts at once (or as many as told)", () => {
    expect(poolAndThisThread(undefined, source('postgres')).concurrency).toBe(2);
    expect(poolAndThisThread(undefined, source('csv')).concurrency).toBe(1);
    expect(poolAndThisThread(undefined, source('postgres'), { concurrency: 3 }).concurrency).toBe(3);
  });

  it("beside a pool, adds one part at a time on this thread to the pool's slots (or as many as told)", () => {
    const pool = timedRunner('pool', 2, 1, []).runner;
    expect(poolAndThisThread(pool, source('postgres')).concurrency).toBe(3);
    expect(poolAndThisThread(pool, source('postgres'), { concurrency: 4 }).concurrency).toBe(6);
  });
});
