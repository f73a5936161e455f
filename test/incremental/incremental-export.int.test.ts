// Issue 9, "Done when": on SQLite, PostgreSQL and MariaDB, a full export at T0, the hospital's changes, then
// `_since=T0` through the CLI and the server: exactly the changed and new resources, and `deleted` exactly
// the two deleted conditions (with the ids the T0 export gave them).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { loadSample } from '../../src/sample/load-sample.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import {
  applyChanges,
  cliExport,
  refs,
  serverExport,
  writeScenarioConnector,
  type Changes,
  type ExportFiles,
  type Sql,
} from './scenario.js';

interface Target {
  connector: string;
  sql: Sql;
  close(): Promise<void>;
}

/** The three databases of the scenario, each a loaded sample with a connector file and a writer. */
const TARGETS: Record<string, () => Promise<Target | { skip: string }>> = {
  sqlite: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'incr-sqlite-'));
    const file = join(dir, 'sample.sqlite');
    await loadSample({ file: join(dir, 'c.yaml'), name: 'incr-sqlite', kind: 'sqlite', path: file, timezone: 'UTC', mappings: [] });
    const db = new Database(file);
    return {
      connector: await writeScenarioConnector(dir, { name: 'incr-sqlite', kind: 'sqlite', path: file }),
      sql: {
        async query(text, params = []) {
          const stmt = db.prepare(text);
          if (stmt.reader) return stmt.all(...params) as Array<Record<string, unknown>>;
          stmt.run(...params);
          return [];
        },
      },
      close: async () => {
        db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  postgres: async () => serverTarget(await testDatabase('postgres', 'incr')),
  mariadb: async () => serverTarget(await testDatabase('mysql', 'incr')),
};

async function serverTarget(db: TestDatabase | { skip: string }): Promise<Target | { skip: string }> {
  if ('skip' in db) return db;
  const dir = await mkdtemp(join(tmpdir(), `incr-${db.kind}-`));
  const config: ConnectorConfig = db.config({ name: `incr-${db.kind}` });
  await loadSample(config);
  const connector = await writeScenarioConnector(dir, {
    name: `incr-${db.kind}`,
    kind: db.kind,
    connection: db.url,
    ...(config.options ? { options: config.options } : {}),
  });
  let sql: Sql;
  let end: () => Promise<void>;
  if (db.kind === 'postgres') {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const schema = config.options?.schema;
    if (typeof schema === 'string') await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
    sql = {
      async query(text, params = []) {
        let n = 0;
        return (
          await client.query(
            text.replace(/\?/g, () => `$${++n}`),
            params,
          )
        ).rows;
      },
    };
    end = () => client.end();
  } else {
    const conn = await mysql.createConnection({ uri: db.url, dateStrings: true, timezone: 'Z' });
    sql = {
      async query(text, params = []) {
        const [rows] = await conn.query(text, params);
        return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
      },
    };
    end = () => conn.end();
  }
  return {
    connector,
    sql,
    close: async () => {
      await end();
      await db.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

for (const [name, open] of Object.entries(TARGETS)) {
  const target = await open();
  if ('skip' in target) console.warn(`incremental-export.int.test (${name}): ${target.skip}`);

  describe.skipIf('skip' in target)(`incremental export from ${name}`, () => {
    const t = target as Target;
    let t0: ExportFiles;
    let changes: Changes;
    const newRows = ['Patient/incr-new-patient', 'Encounter/incr-new-encounter'];

    beforeAll(async () => {
      t0 = await cliExport(t.connector);
      changes = await applyChanges(t.sql, t0.resources);
    }, 600_000);

    afterAll(async () => {
      await t.close();
    });

    /** The new encounter's Provenance: the one Provenance of the export whose target is the new encounter. */
    const expected = (files: ExportFiles): string[] => {
      const provenance = (files.resources.Provenance ?? []).filter((p) =>
        (p.target as Array<{ reference: string }>).some((r) => r.reference === 'Encounter/incr-new-encounter'),
      );
      expect(provenance).toHaveLength(1);
      return [...changes.changed, ...newRows, `Provenance/${String(provenance[0]!.id)}`].sort();
    };

    it('the T0 export has everything, and the changes touch what the scenario says', () => {
      expect(t0.resources.Patient).toHaveLength(11);
      expect(t0.deleted).toEqual([]);
      // 5 encounters + their 5 Provenances, one claim's EOB + Claim
      expect(changes.changed.filter((r) => r.startsWith('Encounter/'))).toHaveLength(5);
      expect(changes.changed.filter((r) => r.startsWith('Provenance/'))).toHaveLength(5);
      expect(changes.changed.filter((r) => r.startsWith('ExplanationOfBenefit/'))).toHaveLength(1);
      expect(changes.changed.filter((r) => r.startsWith('Claim/'))).toHaveLength(1);
      expect(changes.deleted).toHaveLength(2);
    });

    it('CLI --since T0: exactly the changed and new resources, and the two deleted conditions', async () => {
      const since = await cliExport(t.connector, t0.transactionTime);
      expect(refs(since.resources)).toEqual(expected(since));
      expect(since.deleted.sort()).toEqual(changes.deleted);
      // changed rows carry the database's change time, after T0 (an EOB's line changes live in another
      // table, claims_transactions, so its meta.lastUpdated stays the claim row's)
      for (const r of Object.values(since.resources).flat())
        if (r.resourceType !== 'ExplanationOfBenefit' && r.resourceType !== 'Claim')
          expect(Date.parse((r.meta as { lastUpdated: string }).lastUpdated)).toBeGreaterThan(Date.parse(t0.transactionTime));
      expect(Date.parse(since.transactionTime)).toBeGreaterThan(Date.parse(t0.transactionTime));
    }, 300_000);

    it('server _since=T0: the same resources, and the manifest lists the deletions under `deleted`', async () => {
      const since = await serverExport(t.connector, t0.transactionTime);
      expect(refs(since.resources)).toEqual(expected(since));
      expect(since.deleted.sort()).toEqual(changes.deleted);
      expect(since.manifest.deleted).toEqual([expect.objectContaining({ type: 'Bundle', count: 2 })]);
      expect(since.manifest.extension).toBeUndefined(); // every shipped mapping applied _since
    }, 300_000);
  });
}
