// The days supply of a Synthea pharmacy claim (eob.yaml, child `supply`) has one definition for every
// dialect: whole seconds from START to STOP over DISPENSES days of 86400 s, rounded half up. The sample
// has almost no half days, so these prescriptions are made to sit on the edges where dialects used to
// part: calendar dates against elapsed time (PostgreSQL's date - date, MariaDB's DATEDIFF), an exact half
// day, and just under one (MariaDB divides with four decimals, which rounds 7.49999 up to 7.5000).
// PostgreSQL / MariaDB come from TEST_POSTGRES_URL / TEST_MARIADB_URL (test/support/databases.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import knexPkg, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAdapter } from '../../src/connectors/index.js';
import type { ConnectorConfig, SourceQuery } from '../../src/connectors/types.js';
import { loadMappingSet } from '../../src/mapping/index.js';
import { testDatabase, type TestDatabaseKind } from '../support/databases.js';
import { ROOT } from './export-helper.js';

const DAY = 86_400_000;
/** START, elapsed milliseconds, DISPENSES → the days supply by the definition (null: unknown) */
const CASES: Array<{ start: string; elapsed: number; dispenses: number; days: number | null; why: string }> = [
  { start: '2014-05-31T18:34:30Z', elapsed: 14 * DAY, dispenses: 1, days: 14, why: 'whole days' },
  { start: '2014-12-28T02:05:02Z', elapsed: 7 * DAY + 20 * 3_600_000, dispenses: 1, days: 8, why: '7 days 20 h (7 calendar days)' },
  { start: '2015-06-07T07:05:02Z', elapsed: 8 * DAY + 15 * 3_600_000, dispenses: 1, days: 9, why: '8.625 days (8 calendar days)' },
  { start: '2016-03-01T23:00:00Z', elapsed: 2 * 3_600_000, dispenses: 1, days: 0, why: '2 h across midnight (1 calendar day)' },
  { start: '2017-01-10T09:00:00Z', elapsed: 15 * DAY, dispenses: 2, days: 8, why: 'exactly 7.5 days a fill: half up' },
  { start: '2017-01-10T09:00:00Z', elapsed: 15 * DAY - 1000, dispenses: 2, days: 7, why: 'one second under 7.5 days a fill' },
  { start: '2018-02-01T12:00:00Z', elapsed: 10 * DAY, dispenses: 3, days: 3, why: '3.33 days a fill' },
  { start: '2018-02-01T12:00:00Z', elapsed: 10 * DAY, dispenses: 0, days: null, why: 'no dispenses' },
];

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const claimId = (i: number) => `claim-${i}`;
const rows = CASES.map((c, i) => ({
  claim: { Id: claimId(i), APPOINTMENTID: `enc-${i}`, PATIENTID: `pat-${i}` },
  transaction: { CLAIMID: claimId(i), TYPE: 'CHARGE', PROCEDURECODE: `rx-${i}` },
  medication: {
    START: c.start,
    STOP: iso(Date.parse(c.start) + c.elapsed),
    PATIENT: `pat-${i}`,
    ENCOUNTER: `enc-${i}`,
    CODE: `rx-${i}`,
    DISPENSES: c.dispenses,
  },
}));

const supply: SourceQuery = await (async () => {
  const set = await loadMappingSet([path.join(ROOT, 'mappings', 'synthea-claims')], { timezone: 'UTC' });
  const child = set.mappings.find((m) => m.name === 'eob')?.children.find((c) => c.name === 'supply');
  if (!child) throw new Error('eob.yaml has no `supply` child');
  return child.query;
})();

/** claim id → days supply as the source computes it (drivers give BIGINT as text: compared as numbers) */
async function daysSupply(config: ConnectorConfig): Promise<Map<string, number | null>> {
  const adapter = await openAdapter(config);
  const out = new Map<string, number | null>();
  try {
    for await (const row of adapter.stream(supply))
      out.set(String(row.claim_id), row.days_supply === null ? null : Number(row.days_supply));
  } finally {
    await adapter.close();
  }
  return out;
}

function expectDefinition(got: Map<string, number | null>): void {
  const want = new Map(CASES.map((c, i) => [claimId(i), c.days]));
  for (const [i, c] of CASES.entries()) expect({ why: c.why, days: got.get(claimId(i)) }).toEqual({ why: c.why, days: c.days });
  expect(got).toEqual(want);
}

/** The three tables with typed columns (TIMESTAMP, INTEGER) and lower-case names, as the sample loader
 *  makes them; timestamps as UTC wall-clock time on the servers. */
async function createTables(knex: Knex, sqlite: boolean): Promise<void> {
  const lower = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v]));
  const wallClock = (t: string) => (sqlite ? t : t.replace('T', ' ').replace('Z', ''));
  await knex.schema.createTable('claims', (t) => {
    for (const c of ['id', 'appointmentid', 'patientid']) t.string(c, 64);
  });
  await knex.schema.createTable('claims_transactions', (t) => {
    for (const c of ['claimid', 'type', 'procedurecode']) t.string(c, 64);
  });
  await knex.schema.createTable('medications', (t) => {
    for (const c of ['start', 'stop']) t.datetime(c, { useTz: false });
    for (const c of ['patient', 'encounter', 'code']) t.string(c, 64);
    t.integer('dispenses');
  });
  await knex('claims').insert(rows.map((r) => lower(r.claim)));
  await knex('claims_transactions').insert(rows.map((r) => lower(r.transaction)));
  const medications = rows.map((r) => ({ ...r.medication, START: wallClock(r.medication.START), STOP: wallClock(r.medication.STOP) }));
  await knex('medications').insert(medications.map(lower));
}

const QUIET = { warn() {}, error() {}, deprecate() {}, debug() {} };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'days-supply-'));
  const csv = (records: Array<Record<string, unknown>>) =>
    [Object.keys(records[0]!).join(','), ...records.map((r) => Object.values(r).join(','))].join('\n') + '\n';
  await writeFile(path.join(dir, 'claims.csv'), csv(rows.map((r) => r.claim)));
  await writeFile(path.join(dir, 'claims_transactions.csv'), csv(rows.map((r) => r.transaction)));
  await writeFile(path.join(dir, 'medications.csv'), csv(rows.map((r) => r.medication)));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base = (kind: ConnectorConfig['kind'], extra: Partial<ConnectorConfig>): ConnectorConfig => ({
  file: path.join(ROOT, 'connectors', `days-supply-${kind}.yaml`),
  name: `days-supply-${kind}`,
  kind,
  timezone: 'UTC',
  mappings: [],
  ...extra,
});

describe('days supply by the one definition', () => {
  it('from CSV files (a scratch SQLite copy, all text)', async () => {
    expectDefinition(await daysSupply(base('csv', { path: dir })));
  });

  it('from CSV files through DuckDB', async () => {
    expectDefinition(await daysSupply(base('duckdb', { path: dir })));
  });

  it('from a SQLite file with typed columns', async () => {
    const file = path.join(dir, 'typed.sqlite');
    const knex = knexPkg.knex({ client: 'better-sqlite3', log: QUIET, connection: { filename: file }, useNullAsDefault: true });
    try {
      await createTables(knex, true);
    } finally {
      await knex.destroy();
    }
    expectDefinition(await daysSupply(base('sqlite', { path: file })));
  });

  for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
    it(`from ${kind}`, async (ctx) => {
      const db = await testDatabase(kind);
      if ('skip' in db) {
        console.warn(`days-supply.int.test: ${db.skip}`);
        ctx.skip();
        return;
      }
      try {
        const knex =
          kind === 'postgres'
            ? knexPkg.knex({ client: 'pg', log: QUIET, connection: db.url, searchPath: [db.schema] })
            : knexPkg.knex({ client: 'mysql2', log: QUIET, connection: db.url });
        try {
          await createTables(knex, false);
        } finally {
          await knex.destroy();
        }
        expectDefinition(await daysSupply(db.config()));
      } finally {
        await db.cleanup();
      }
    }, 60_000);
  }
});
