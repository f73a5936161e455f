import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { defaultWorkers } from './worker-pool.js';

it('maps on every core, or leaves a quarter of them (at least one thread remains) to a database on this machine', () => {
  const cores = availableParallelism();
  expect(defaultWorkers()).toBe(cores);
  expect(defaultWorkers({ kind: 'csv' })).toBe(cores);
  expect(defaultWorkers({ kind: 'postgres', connection: 'postgres://u@db.example:5432/ehr' })).toBe(cores);
  const local = defaultWorkers({ kind: 'postgres', connection: 'postgres://postgres@127.0.0.1:5432/test' });
  expect(local).toBe(Math.max(1, cores - Math.ceil(cores / 4)));
  expect(local).toBeLessThan(Math.max(2, cores));
});
