// Runs the mapping tests shipped in mappings/ (`*.test.yaml`), one vitest case per mapping test case, so
// `npm test` covers them.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { formatLocation } from '../errors.js';
import { runMappingTests } from './index.js';

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
