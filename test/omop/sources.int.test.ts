// The OMOP sample loaded with load-csv into PostgreSQL and MariaDB must export the same resources as its CSV
// files (ids and content): the mappings' SQL (CONCEPT joins, FHIRPath over typed columns) is portable, and
// the loader's column types (NUMERIC sized from the data, DATE, TIMESTAMP) change nothing.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import { loadCsv } from '../../src/sample/load-csv.js';
import { readTableSchema } from '../../src/sample/table-schema.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../support/databases.js';
import { canonical, exportConfig, type CollectedExport } from '../synthea/collect-export.js';
import { OMOP_CSV, OMOP_MAPPINGS, OMOP_TABLES, ROOT, readOmop } from './omop-source.js';

let reference: string[];

beforeAll(async () => {
  reference = canonical((await exportConfig(await loadConnectorConfig(path.join(ROOT, 'connectors', 'omop-csv.yaml')))).resources);
}, 180_000);

for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
  const available = await testDatabase(kind);
  const skip = 'skip' in available ? available.skip : undefined;
  if (skip) console.warn(`omop sources.int.test: ${skip}`);

  describe.skipIf(skip !== undefined)(`OMOP sample loaded into ${kind} with load-csv`, () => {
    const db = available as TestDatabase;
    let out: CollectedExport;
    let loaded: Record<string, number>;

    beforeAll(async () => {
      const config = db.config({ mappings: [OMOP_MAPPINGS] });
      loaded = (await loadCsv(config, await readTableSchema(OMOP_TABLES), { folder: OMOP_CSV })).tables;
      out = await exportConfig(config);
    }, 300_000);

    afterAll(async () => {
      await db.cleanup();
    });

    it('loads every CSV row', () => {
      for (const [table, rows] of Object.entries(loaded)) expect(rows, table).toBe(readOmop(table).length);
    });

    it('maps every row without an issue', () => {
      expect(out.errors.slice(0, 3)).toEqual([]);
    });

    it('exports the same resources (ids and content) as the CSV files', () => {
      const got = canonical(out.resources);
      expect(got.length).toBe(reference.length);
      const first = got.findIndex((g, i) => g !== reference[i]);
      expect(first === -1 ? undefined : { got: got[first]?.slice(0, 600), csv: reference[first]?.slice(0, 600) }).toBeUndefined();
    });
  });
}
