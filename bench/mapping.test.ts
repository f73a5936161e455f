import { expect, it } from 'vitest';
import { benchMapping, benchObservationLabInMemory } from './mapping.js';

// Only checks that the benchmarks run and map every row; throughput is for people, not assertions.
it('benchMapping runs and reports throughput per mapping and engine', { timeout: 120_000 }, () => {
  const r = benchMapping(2_000);
  expect(r.map((x) => `${x.mapping} ${x.engine}`)).toEqual([
    'patient compiled',
    'observation compiled',
    'patient interpreted',
    'observation interpreted',
  ]);
  for (const x of r) expect(x.rows).toBe(2_000);
  if (process.env.BENCH) console.log(benchMapping(Number(process.env.BENCH)));
});

it('the in-memory observation-lab floor maps and serialises every row with each engine', { timeout: 120_000 }, async () => {
  const r = await benchObservationLabInMemory(2_000, 1);
  expect(r.rows).toBe(2_000);
  for (const ms of Object.values(r.cpuMs)) expect(ms).toBeGreaterThanOrEqual(0);
  if (process.env.BENCH) console.log(await benchObservationLabInMemory(Number(process.env.BENCH)));
});
