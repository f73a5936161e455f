// The Synthea claims mappings on the databases the sample loads into (SQLite file, PostgreSQL, MariaDB):
// their SQL (window functions, casts, per-dialect date arithmetic) must give the same EOBs and the same
// money as the CSV files. PostgreSQL / MariaDB come from TEST_POSTGRES_URL / TEST_MARIADB_URL (see
// test/support/databases.ts); without them those parts are skipped with a message.
import { SAMPLE_LAST_UPDATED } from '../../src/sample/synthea-schema.js';
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
import { C4BB, amountOf, expectedKinds, kindOf, moneyOf, table, toCents, transactionsByClaim, type Json } from './synthea-expected.js';

const MAPPINGS = [path.join(ROOT, 'mappings/synthea'), path.join(ROOT, 'mappings/synthea-claims')];

type Target = { label: string; setup(): Promise<{ config: ConnectorConfig; cleanup(): Promise<void> } | { skip: string }> };
const targets: Target[] = [
  {
    label: 'sqlite',
    async setup() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'claims-sqlite-'));
      const config: ConnectorConfig = {
        file: path.join(dir, 'c.yaml'),
        name: 'claims-sqlite',
        kind: 'sqlite',
        path: path.join(dir, 's.sqlite'),
        timezone: 'UTC',
        mappings: [],
      };
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

/** table.column of the first column of every index of the loaded sample (its FK indexes among them) */
const INDEXED_COLUMNS = {
  sqlite: `SELECT m.name AS tbl, ii.name AS col FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii WHERE m.type = 'table' AND ii.seqno = 0`,
  postgres: `SELECT c.relname AS tbl, a.attname AS col FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] WHERE n.nspname = current_schema()`,
  mysql: `SELECT TABLE_NAME AS tbl, COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND SEQ_IN_INDEX = 1`,
};

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const r of rows) out.push(r);
  return out;
}

const transitions = table('payer_transitions.csv');
const claims = table('claims.csv');
const transactions = table('claims_transactions.csv.gz');
const byClaim = transactionsByClaim(transactions);
const kinds = expectedKinds(claims, transactions);

for (const target of targets) {
  const env = await target.setup();
  if ('skip' in env) {
    describe.skip(`Synthea claims on ${target.label} (${env.skip})`, () => it('needs a database', () => undefined));
    continue;
  }
  describe(`Synthea claims on ${target.label}`, () => {
    let result: ExportResult;
    let indexed: Set<string>;
    beforeAll(async () => {
      await loadSample(env.config);
      const adapter = await openAdapter(env.config);
      try {
        result = await exportWith(adapter, await loadMappingSet(MAPPINGS, { timezone: 'UTC' }), [
          'ExplanationOfBenefit',
          'Claim',
          'Coverage',
          'Patient',
        ]);
        indexed = new Set(
          (await collect(adapter.stream({ sql: INDEXED_COLUMNS }))).map(
            (r) => `${String(r.tbl).toLowerCase()}.${String(r.col).toLowerCase()}`,
          ),
        );
      } finally {
        await adapter.close();
      }
    }, 180_000);
    afterAll(async () => env.cleanup());

    it('makes one EOB per claim, of the type of its kind, without row errors', () => {
      const eobs = result.byType('ExplanationOfBenefit') as Json[];
      expect(eobs).toHaveLength(claims.length);
      for (const eob of eobs) expect(kindOf(eob), eob.id).toBe(kinds.get(eob.id));
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
        // per item: the CHARGE and the PAYMENT rows up to the next CHARGE (this dialect's `lines` query)
        const items: Array<typeof transactions> = [];
        for (const t of byClaim.get(eob.id) ?? []) {
          if (t.TYPE === 'CHARGE') items.push([t]);
          else items.at(-1)?.push(t);
        }
        items.forEach((rows, i) => {
          expect(eob.item[i].sequence).toBe(i + 1);
          expect(toCents(amountOf(eob.item[i].adjudication, 'submitted')), `${eob.id} item ${i + 1}`).toBe(moneyOf(rows).submitted);
          expect(toCents(amountOf(eob.item[i].adjudication, 'benefit')), `${eob.id} item ${i + 1}`).toBe(moneyOf(rows).benefit);
        });
      }
    });

    it('has the loader index the foreign key columns the claims queries join and filter on', () => {
      for (const column of [
        'claims_transactions.claimid',
        'claims.appointmentid',
        'claims.patientid',
        'encounters.patient',
        'procedures.encounter',
        'medications.encounter',
        'observations.encounter',
      ])
        expect(indexed.has(column), column).toBe(true);
    });

    it('makes every payer member a C4BB Patient (member id, lastUpdated) on this database too', () => {
      const members = new Map<string, string>();
      for (const t of [...transitions].sort((a, b) => a.START_DATE!.localeCompare(b.START_DATE!)))
        if (t.MEMBERID) members.set(t.PATIENT!, t.MEMBERID);
      const patients = result.byType('Patient') as Json[];
      expect(patients).toHaveLength(table('patients.csv').length);
      for (const p of patients) {
        expect(p.meta.profile.includes(`${C4BB}C4BB-Patient|2.0.0`), p.id).toBe(members.has(p.id));
        if (!members.has(p.id)) continue;
        expect(p.identifier.find((i: Json) => i.type?.coding?.[0]?.code === 'MB')?.value, p.id).toBe(members.get(p.id));
        // the loader's change-tracking column: the sample's date on every loaded row
        expect(Date.parse(p.meta.lastUpdated), p.id).toBe(Date.parse(SAMPLE_LAST_UPDATED));
      }
    });

    it("computes the days supply of pharmacy claims with this database's date arithmetic", () => {
      const pharmacy = result.byType('ExplanationOfBenefit').filter((e) => kindOf(e as Json) === 'pharmacy') as Json[];
      const days = pharmacy.map((e) => e.supportingInfo.find((s: Json) => s.category.coding[0].code === 'dayssupply').valueQuantity.value);
      expect(days.filter((d) => typeof d === 'number').length).toBeGreaterThan(pharmacy.length / 2);
    });
  });
}
