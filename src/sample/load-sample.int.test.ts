import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexPkg from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase, type TestDatabase } from '../../test/support/databases.js';
import { readCsv, locateTable } from '../connectors/csv-files.js';
import { openAdapter } from '../connectors/index.js';
import type { ConnectorConfig, Row, SourceAdapter } from '../connectors/types.js';
import { loadSample, sampleFolder, type LoadProgress } from './load-sample.js';
import { LAST_UPDATED_COLUMN, SAMPLE_LAST_UPDATED, SYNTHEA_TABLES } from './synthea-schema.js';

/** Rows per table counted from the CSV files themselves (SOURCE.md lists the same numbers). */
async function csvCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const spec of SYNTHEA_TABLES) {
    let n = 0;
    for await (const _row of readCsv(await locateTable({ folder: sampleFolder() }, spec.name))) n++;
    counts[spec.name] = n;
  }
  return counts;
}

async function count(adapter: SourceAdapter, table: string): Promise<number> {
  for await (const row of adapter.stream({ sql: `select count(*) as n from ${table}` })) return Number(row.n);
  return -1;
}

async function first(adapter: SourceAdapter, table: string, where: Row): Promise<Row | undefined> {
  const filters = Object.entries(where).map(([column, value]) => ({ column, op: '=' as const, value }));
  for await (const row of adapter.stream({ table, where: filters })) return row;
  return undefined;
}

/** An instant in a comparable form whatever text the database gave (ISO with Z, or UTC wall-clock text). */
function instant(v: unknown): string {
  const s = String(v);
  return new Date(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(s) ? s : `${s.replace(' ', 'T')}Z`).toISOString();
}

const expected = await csvCounts();

it('the CSV sample has the row counts documented in SOURCE.md', () => {
  expect(expected).toMatchObject({
    patients: 11,
    encounters: 388,
    conditions: 273,
    observations: 3626,
    claims: 561,
    claims_transactions: 5567,
  });
});

type Target = { label: string; setup(): Promise<{ config: ConnectorConfig; cleanup(): Promise<void> } | { skip: string }> };

const targets: Target[] = [
  {
    label: 'sqlite',
    async setup() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-sample-'));
      return {
        config: {
          file: path.join(dir, 'c.yaml'),
          name: 'sample-sqlite',
          kind: 'sqlite',
          path: path.join(dir, 'synthea.sqlite'),
          timezone: 'UTC',
          mappings: [],
        },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  ...(['postgres', 'mysql'] as const).map((kind) => ({
    label: kind,
    async setup() {
      const db = await testDatabase(kind);
      if ('skip' in db) return db;
      return { config: (db as TestDatabase).config({ name: `sample-${kind}` }), cleanup: () => db.cleanup() };
    },
  })),
];

for (const target of targets) {
  const env = await target.setup();
  if ('skip' in env) {
    describe.skip(`load-sample into ${target.label} (${env.skip})`, () => it('needs a database', () => undefined));
    continue;
  }
  describe(`load-sample into ${target.label}`, () => {
    let adapter: SourceAdapter;
    let csv: SourceAdapter;
    let progress: LoadProgress[] = [];

    beforeAll(async () => {
      await loadSample(env.config, { onProgress: (p) => progress.push(p) });
      adapter = await openAdapter(env.config);
      csv = await openAdapter({ file: '/x.yaml', name: 'csv', kind: 'csv', path: sampleFolder(), timezone: 'UTC', mappings: [] });
    }, 120_000);

    afterAll(async () => {
      await adapter?.close();
      await csv?.close();
      await env.cleanup();
    });

    it('has as many rows in every table as the CSV files', async () => {
      for (const spec of SYNTHEA_TABLES) expect([spec.name, await count(adapter, spec.name)]).toEqual([spec.name, expected[spec.name]]);
      expect(progress.at(-1)).toMatchObject({ table: 'claims_transactions', rows: expected.claims_transactions });
    });

    it('keeps values: ids, codes with leading zeros, dates, instants and amounts read back like the CSV', async () => {
      const id = '47afd8bf-98df-7e85-832a-3da2a89cc222';
      const fromDb = await first(adapter, 'encounters', { id });
      const fromCsv = await first(csv, 'encounters', { id });
      expect(fromDb).toBeDefined();
      // the database's table has the CSV file's columns, plus the change-tracking column the loader adds
      expect(Object.keys(fromDb!).sort()).toEqual([...Object.keys(fromCsv!), LAST_UPDATED_COLUMN].sort());
      expect(instant(fromDb![LAST_UPDATED_COLUMN])).toBe(instant(SAMPLE_LAST_UPDATED));
      expect(instant(fromDb!.start)).toBe(instant(fromCsv!.start));
      expect(Number(fromDb!.base_encounter_cost)).toBe(Number(fromCsv!.base_encounter_cost));
      expect(String(fromDb!.code)).toBe(fromCsv!.code);
      const org = (await first(csv, 'organizations', {}))!;
      expect((await first(adapter, 'organizations', { id: org.id }))!.zip).toBe(org.zip);
      const pat = (await first(csv, 'patients', {}))!;
      expect((await first(adapter, 'patients', { id: pat.id }))!.birthdate).toBe(pat.birthdate);
    });

    it('declares the foreign keys: a row pointing at a missing patient is rejected', async () => {
      const c = env.config;
      const k = knexPkg.knex(
        c.kind === 'sqlite'
          ? {
              client: 'better-sqlite3',
              connection: { filename: c.path! },
              useNullAsDefault: true,
              pool: {
                afterCreate: (conn: { pragma(s: string): void }, done: (e: null, c: unknown) => void) => {
                  conn.pragma('foreign_keys = ON');
                  done(null, conn);
                },
              },
            }
          : { client: c.kind === 'postgres' ? 'pg' : 'mysql2', connection: c.connection as string },
      );
      try {
        await expect(
          k('conditions').insert({ start: '2020-01-01', patient: 'no-such-patient', encounter: 'no-such-encounter', code: '1' }),
        ).rejects.toThrow(/foreign key/i);
      } finally {
        await k.destroy();
      }
    });

    it('refuses to load over existing tables unless replace is given', async () => {
      await expect(loadSample(env.config)).rejects.toThrow(/already exist/);
    });

    it('loads two copies with rewritten ids and no key violation (and replace drops the old tables)', async () => {
      progress = [];
      await loadSample(env.config, { copies: 2, replace: true });
      for (const spec of SYNTHEA_TABLES)
        expect([spec.name, await count(adapter, spec.name)]).toEqual([spec.name, 2 * expected[spec.name]!]);
      const copy = await first(adapter, 'encounters', { id: '47afd8bf-98df-7e85-832a-3da2a89cc222-k2' });
      expect(copy?.patient).toBe('b37f7960-7e9e-f3f7-f891-79ae4f632406-k2');
      expect(await first(adapter, 'patients', { id: copy!.patient })).toBeDefined();
    }, 120_000);
  });
}
