// The Synthea claims mappings on the databases the sample loads into (SQLite file, PostgreSQL, MariaDB):
// their SQL (window functions, casts, per-dialect date arithmetic) must give the same EOBs and the same
// money as the CSV files. PostgreSQL / MariaDB come from TEST_POSTGRES_URL / TEST_MARIADB_URL (see
// test/support/databases.ts); without them those parts are skipped with a message.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from '../support/databases.js';
import { openAdapter } from '../../src/connectors/index.js';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { loadMappingSet } from '../../src/mapping/index.js';
import { loadSample } from '../../src/sample/load-sample.js';
import { ROOT, exportWith, type ExportResult } from './export-helper.js';
import { amountOf, expectedProfiles, moneyOf, table, toCents, transactionsByClaim, type Json } from './synthea-expected.js';

const MAPPINGS = [path.join(ROOT, 'mappings/synthea'), path.join(ROOT, 'mappings/synthea-claims')];

type Target = { label: string; setup(): Promise<{ config: ConnectorConfig; cleanup(): Promise<void> } | { skip: string }> };
const targets: Target[] = [
  {
    label: 'sqlite',
    async setup() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'claims-sqlite-'));
      const config: ConnectorConfig = { file: path.join(dir, 'c.yaml'), name: 'claims-sqlite', kind: 'sqlite', path: path.join(dir, 's.sqlite'), timezone: 'UTC', mappings: [] };
      return { config, cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  ...(['postgres', 'mysql'] as const).map((kind) => ({
    label: kind,
    async setup() {
      const db = await testDatabase(kind);
      if ('skip' in db) return db;
      return { config: db.config({ name: `claims-${kind}` }), cleanup: () => db.cleanup() };
    },
  })),
];

const claims = table('claims.csv');
const transactions = table('claims_transactions.csv.gz');
const byClaim = transactionsByClaim(transactions);
const profiles = expectedProfiles(claims, transactions);

for (const target of targets) {
  const env = await target.setup();
  if ('skip' in env) {
    describe.skip(`Synthea claims on ${target.label} (${env.skip})`, () => it('needs a database', () => undefined));
    continue;
  }
  describe(`Synthea claims on ${target.label}`, () => {
    let result: ExportResult;
    beforeAll(async () => {
      await loadSample(env.config);
      const adapter = await openAdapter(env.config);
      try {
        result = await exportWith(adapter, await loadMappingSet(MAPPINGS, { timezone: 'UTC' }), ['ExplanationOfBenefit', 'Claim', 'Coverage']);
      } finally {
        await adapter.close();
      }
    }, 180_000);
    afterAll(async () => env.cleanup());

    it('makes one EOB per claim, of the profile of its kind, without row errors', () => {
      const eobs = result.byType('ExplanationOfBenefit');
      expect(eobs).toHaveLength(claims.length);
      for (const eob of eobs) expect(eob.meta?.profile, eob.id).toEqual([profiles.get(eob.id)]);
      expect(result.byType('Claim')).toHaveLength(claims.length);
      expect(result.outcomes).toEqual([]);
    });

    it('gives the same money as the CSV files, to the cent', () => {
      for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
        const m = moneyOf(byClaim.get(eob.id) ?? []);
        expect(toCents(amountOf(eob.total, 'submitted')), eob.id).toBe(m.submitted);
        expect(toCents(amountOf(eob.total, 'benefit')), eob.id).toBe(m.benefit);
        expect(toCents(amountOf(eob.total, 'paidbypatient')), eob.id).toBe(m.paidbypatient);
        expect(eob.item).toHaveLength((byClaim.get(eob.id) ?? []).filter((t) => t.TYPE === 'CHARGE').length);
      }
    });

    it('computes the days supply of pharmacy claims with this database\'s date arithmetic', () => {
      const pharmacy = result.byType('ExplanationOfBenefit').filter((e) => e.meta?.profile?.[0]?.endsWith('Pharmacy')) as Json[];
      const days = pharmacy.map((e) => e.supportingInfo.find((s: Json) => s.category.coding[0].code === 'dayssupply').valueQuantity.value);
      expect(days.filter((d) => typeof d === 'number').length).toBeGreaterThan(pharmacy.length / 2);
    });
  });
}
