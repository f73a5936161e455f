import { expect, it } from 'vitest';
import { benchMapping } from './mapping.js';

// Only checks that the benchmark runs and maps every row; throughput is for people, not assertions.
it('benchMapping runs and reports throughput per mapping', { timeout: 120_000 }, () => {
  const r = benchMapping(2_000);
  expect(r.map((x) => x.mapping)).toEqual(['patient', 'observation']);
  for (const x of r) expect(x.rows).toBe(2_000);
  if (process.env.BENCH) console.log(benchMapping(Number(process.env.BENCH)));
});
