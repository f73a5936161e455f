import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type OpenedSource } from '../src/pipeline/open-source.js';
import { planExport } from '../src/pipeline/plan.js';
import { observationLab } from './hand-written.js';
import { ROOT } from './sources.js';

let source: OpenedSource;
beforeAll(async () => {
  source = await openSource(join(ROOT, 'connectors/synthea-sqlite.yaml'));
});
afterAll(() => source.close());

describe('the hand-written floor', () => {
  it('writes the bytes observation-lab.yaml writes, row for row (so the bench compares equal work)', async () => {
    const mapping = source.mappings.byName.get('observation-lab')!;
    const [run] = planExport({ mappings: { ...source.mappings, mappings: [mapping] } }).runs;
    let rows = 0;
    let numeric = 0;
    for (const query of run!.queries) {
      for await (const row of source.adapter.stream(query)) {
        rows++;
        if (row.type === 'numeric') numeric++;
        const ours = mapping.map(row).resources[0];
        expect(JSON.stringify(observationLab(row))).toBe(JSON.stringify(ours));
      }
    }
    expect(rows).toBeGreaterThan(100);
    expect(numeric).toBeLessThan(rows);
  });
});
