// The same Synthea sample in SQLite, as CSV files, in PostgreSQL and in MariaDB must export to the same
// resources: same ids, same content. This is what proves the mappings' SQL and the id hashing portable
// (the loader gives PostgreSQL and MariaDB real DATE/TIMESTAMP/NUMERIC columns, the CSV files only text).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSample } from '../../src/sample/load-sample.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../support/databases.js';
import { canonical, exportConfig, exportConnector, type CollectedExport } from './collect-export.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAPPINGS = path.join(ROOT, 'mappings', 'synthea');

let reference: string[];
let sqlite: CollectedExport;
let csv: CollectedExport;

beforeAll(async () => {
  sqlite = await exportConnector(path.join(ROOT, 'connectors', 'synthea-sqlite.yaml'), {}, [MAPPINGS]);
  csv = await exportConnector(path.join(ROOT, 'connectors', 'synthea-csv.yaml'), {}, [MAPPINGS]);
  reference = canonical(sqlite.resources);
}, 180_000);

function firstDifference(a: string[], b: string[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (a[i] !== b[i]) return `sqlite: ${a[i]?.slice(0, 600)}\nother:  ${b[i]?.slice(0, 600)}`;
  return undefined;
}

describe('Synthea sample from SQLite and CSV', () => {
  it('exports the same resources from both (but meta.lastUpdated, which only the database tracks)', () => {
    expect(reference.length).toBeGreaterThan(5000);
    const got = canonical(csv.resources, { withoutLastUpdated: true });
    const expected = canonical(sqlite.resources, { withoutLastUpdated: true });
    expect(firstDifference(expected, got)).toBeUndefined();
    expect(got).toEqual(expected);
  });
});

for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
  const available = await testDatabase(kind);
  const skip = 'skip' in available ? available.skip : undefined;
  if (skip) console.warn(`sources.int.test: ${skip}`);

  describe.skipIf(skip !== undefined)(`Synthea sample loaded into ${kind}`, () => {
    const db = available as TestDatabase;
    let out: CollectedExport;

    beforeAll(async () => {
      const config = db.config({ mappings: [MAPPINGS], sample: 'synthea' });
      await loadSample(config);
      out = await exportConfig(config);
    }, 300_000);

    afterAll(async () => {
      await db.cleanup();
    });

    it('maps every row without an issue', () => {
      expect(out.errors.slice(0, 3)).toEqual([]);
    });

    it('exports the same resources (ids and content) as SQLite and CSV', () => {
      const got = canonical(out.resources);
      expect(firstDifference(reference, got)).toBeUndefined();
      expect(got).toEqual(reference);
    });
  });
}
