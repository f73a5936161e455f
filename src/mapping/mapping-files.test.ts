// Runs the mapping tests shipped in mappings/ (`*.test.yaml`), one vitest case per mapping test case, so
// `npm test` covers them.
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLocation } from '../errors.js';
import { loadMappingSet, runMappingTests } from './index.js';

const root = fileURLToPath(new URL('../../mappings', import.meta.url));
const report = await runMappingTests([root]);

describe('mapping tests in mappings/', () => {
  it('all test files and the mappings they test compile', () => {
    expect(report.errors.map((e) => e.message)).toEqual([]);
  });
  for (const c of report.cases) {
    it(`${c.mapping}: ${c.name} (${formatLocation(c.location)})`, () => {
      if (!c.passed) throw new Error(c.failure);
    });
  }
});

describe('mapping sets in mappings/', () => {
  const sets = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  for (const set of sets) {
    it(`${set} compiles`, async () => {
      const compiled = await loadMappingSet([join(root, set)]);
      expect(compiled.mappings.length).toBeGreaterThan(0);
    });
  }
});
