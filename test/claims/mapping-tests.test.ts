// The integrators' mapping tests (*.test.yaml) beside the claims mappings must all pass.
import path from 'node:path';
import { expect, it } from 'vitest';
import { runMappingTests } from '../../src/mapping/index.js';
import { ROOT } from './export-helper.js';

it.each(['mappings/cms-ccw-rif', 'mappings/synthea-claims'])(
  'the mapping tests of %s pass',
  async (folder) => {
    const report = await runMappingTests([path.join(ROOT, folder)]);
    expect(report.errors.map((e) => e.message)).toEqual([]);
    expect(report.cases.filter((c) => !c.passed).map((c) => c.failure)).toEqual([]);
    expect(report.passed).toBeGreaterThan(0);
  },
  60_000,
);
