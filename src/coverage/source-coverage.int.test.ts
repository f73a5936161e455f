// fhir-bridge coverage of the shipped PostgreSQL and MariaDB connectors: the sample loaded into a private
// schema/database, its catalogue listed by the adapter, the connector's mappings and ignore: applied.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig, openAdapter } from '../connectors/index.js';
import type { SourceAdapter } from '../connectors/types.js';
import { loadMappingSet } from '../mapping/index.js';
import { loadSample } from '../sample/load-sample.js';
import { readTable } from '../../test/synthea/source-counts.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../../test/support/databases.js';
import { sourceCoverage } from './source-coverage.js';

const CONNECTORS = path.resolve(import.meta.dirname, '../../connectors');
const SAMPLE_TABLES = [
  'allergies',
  'careplans',
  'claims',
  'claims_transactions',
  'conditions',
  'deleted_rows', // the tombstones of the loader's change tracking
  'devices',
  'encounters',
  'imaging_studies',
  'immunizations',
  'medications',
  'observations',
  'organizations',
  'patients',
  'payer_transitions',
  'payers',
  'procedures',
  'providers',
  'supplies',
];

for (const [kind, file] of [
  ['postgres', 'synthea-postgres.yaml'],
  ['mysql', 'synthea-mariadb.yaml'],
] as Array<[TestDatabaseKind, string]>) {
  const available = await testDatabase(kind);
  const skip = 'skip' in available ? available.skip : undefined;
  if (skip) console.warn(`source-coverage.int.test: ${skip}`);

  describe.skipIf(skip !== undefined)(`coverage of connectors/${file} over the loaded sample`, () => {
    const db = available as TestDatabase;
    let adapter: SourceAdapter | undefined;

    beforeAll(async () => {
      await loadSample(db.config({ sample: 'synthea' }));
    }, 300_000);

    afterAll(async () => {
      await adapter?.close();
      await db.cleanup();
    });

    it('lists the sample tables from the catalogue and accounts for every column', async () => {
      const shipped = await loadConnectorConfig(path.join(CONNECTORS, file), {});
      const config = db.config({ mappings: shipped.mappings, ...(shipped.ignore ? { ignore: shipped.ignore } : {}) });
      adapter = await openAdapter(config);
      const coverage = await sourceCoverage(adapter, await loadMappingSet(config.mappings, { timezone: 'UTC' }), config.ignore);
      expect(coverage.tables.map((t) => t.table)).toEqual(SAMPLE_TABLES);
      expect(coverage.unused).toEqual([]);
      expect(coverage.staleIgnores).toEqual([]);
      // the loader keeps the CSV header's columns, and adds its change-tracking column
      const supplies = coverage.tables.find((t) => t.table === 'supplies')!;
      expect(supplies.columns.map((c) => c.column)).toEqual([
        ...Object.keys(readTable('supplies')[0]!).map((c) => c.toLowerCase()),
        'last_updated',
      ]);
    }, 120_000);
  });
}
