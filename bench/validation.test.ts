import { expect, it } from 'vitest';
import { sharedValidator, shippedPackages } from '../test/support/validation.js';
import { benchValidation } from './validation.js';

// Only checks that the benchmark runs and counts every resource; throughput is for people, not assertions.
it('benchValidation reports throughput per resourceType and overall', { timeout: 120_000 }, async () => {
  const validator = await sharedValidator();
  const resources = (await shippedPackages()).flatMap((p) => p.examples.map((e) => e.resource)).filter((r) => r.resourceType !== 'Bundle');
  const rows = benchValidation(validator, resources, 1);
  const all = rows.at(-1)!;
  expect(all.resourceType).toBe('all');
  expect(all.resources).toBe(resources.length);
  expect(rows.slice(0, -1).reduce((n, r) => n + r.resources, 0)).toBe(resources.length);
  for (const r of rows) expect(r.perSecondCpu).toBeGreaterThan(0);
});
