// The databases the incremental tests run on: the Synthea sample loaded (with its change tracking) into a
// temporary SQLite file, a private PostgreSQL schema and a private MariaDB database (named incr_*), each
// with a connector file and plain writer connections standing for the hospital's applications.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { loadSample } from '../../src/sample/load-sample.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import { writeScenarioConnector, type Sql } from './scenario.js';

export type Writer = Sql & { end(): Promise<void> };

export interface Target {
  name: string;
  connector: string;
  /** a writer connection open for the whole test */
  sql: Writer;
  /** another writer (a transaction kept open while a second one commits needs two) */
  writer(): Promise<Writer>;
  close(): Promise<void>;
}

/** The three databases, each a loaded sample; `{ skip }` where the server is not available. */
export const TARGETS: Record<string, () => Promise<Target | { skip: string }>> = {
  sqlite: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'incr-sqlite-'));
    const file = join(dir, 'sample.sqlite');
    await loadSample({ file: join(dir, 'c.yaml'), name: 'incr-sqlite', kind: 'sqlite', path: file, timezone: 'UTC', mappings: [] });
    const writer = async (): Promise<Writer> => {
      const db = new Database(file, { timeout: 30_000 });
      return {
        async query(text, params = []) {
          const stmt = db.prepare(text);
          if (stmt.reader) return stmt.all(...params) as Array<Record<string, unknown>>;
          stmt.run(...params);
          return [];
        },
        end: async () => void db.close(),
      };
    };
    const sql = await writer();
    return {
      name: 'sqlite',
      connector: await writeScenarioConnector(dir, { name: 'incr-sqlite', kind: 'sqlite', path: file }),
      sql,
      writer,
      close: async () => {
        await sql.end();
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
  const schema = typeof config.options?.schema === 'string' ? config.options.schema : undefined;
  const writer = async (): Promise<Writer> => {
    if (db.kind === 'postgres') {
      const client = new pg.Client({ connectionString: db.url, application_name: 'incr-test-writer' });
      await client.connect();
      if (schema) await client.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
      return {
        async query(text, params = []) {
          let n = 0;
          return (
            await client.query(
              text.replace(/\?/g, () => `$${++n}`),
              params,
            )
          ).rows;
        },
        end: () => client.end(),
      };
    }
    const conn = await mysql.createConnection({ uri: db.url, dateStrings: true, timezone: 'Z' });
    return {
      async query(text, params = []) {
        const [rows] = await conn.query(text, params);
        return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
      },
      end: () => conn.end(),
    };
  };
  const sql = await writer();
  return {
    name: db.kind,
    connector,
    sql,
    writer,
    close: async () => {
      await sql.end();
      await db.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
