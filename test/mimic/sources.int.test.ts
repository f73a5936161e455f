// The MIMIC-IV demo loaded with load-csv into PostgreSQL must export the same resources as its CSV files
// (ids and content), so the mappings' SQL and the loader's column types are portable. PostgreSQL only: the
// 137,000 rows take minutes to load on a busy CI machine; MariaDB gives the same output too (add 'mysql'
// to the list below to check it: the test is written for both).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import { loadCsv } from '../../src/sample/load-csv.js';
import { readTableSchema } from '../../src/sample/table-schema.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../support/databases.js';
import { exportConfig, type CollectedExport } from '../synthea/collect-export.js';
import { MIMIC_CSV, MIMIC_MAPPINGS, MIMIC_TABLES, ROOT, readMimic } from './mimic-source.js';

/** type/id → JSON text of the CSV export (the engine writes keys in one order for the same data). */
let reference: Map<string, string>;

beforeAll(async () => {
  const csv = await exportConfig(await loadConnectorConfig(path.join(ROOT, 'connectors', 'mimic-csv.yaml')));
  reference = new Map(csv.resources.map((r) => [`${r.resourceType}/${r.id}`, JSON.stringify(r)]));
}, 300_000);

for (const kind of ['postgres'] as TestDatabaseKind[]) {
  const available = await testDatabase(kind);
  const skip = 'skip' in available ? available.skip : undefined;
  if (skip) console.warn(`mimic sources.int.test: ${skip}`);

  describe.skipIf(skip !== undefined)(`MIMIC-IV demo loaded into ${kind} with load-csv`, () => {
    const db = available as TestDatabase;
    let out: CollectedExport;
    let loaded: Record<string, number>;

    beforeAll(async () => {
      const config = db.config({ mappings: [MIMIC_MAPPINGS] });
      loaded = (await loadCsv(config, await readTableSchema(MIMIC_TABLES), { folder: MIMIC_CSV })).tables;
      out = await exportConfig(config);
    }, 600_000);

    afterAll(async () => {
      await db.cleanup();
    });

    it('loads every CSV row and maps every row without an issue', () => {
      for (const [table, rows] of Object.entries(loaded)) expect(rows, table).toBe(readMimic(table).length);
      expect(out.errors.slice(0, 3)).toEqual([]);
    });

    it('exports the same resources (ids and content) as the CSV files', () => {
      expect(out.resources.length).toBe(reference.size);
      const differ: string[] = [];
      for (const r of out.resources) {
        const json = JSON.stringify(r);
        const csv = reference.get(`${r.resourceType}/${r.id}`);
        if (json !== csv && differ.push(`${kind}: ${json.slice(0, 400)}\ncsv: ${String(csv).slice(0, 400)}`) >= 3) break;
      }
      expect(differ).toEqual([]);
    });
  });
}
