// Fast inserts for the sample loader, straight through each driver: PostgreSQL parses and plans a
// statement with thousands of parameters slowly (measured: 18k rows of 33 columns took 1.3 s as 900-row
// statements, 0.3 s as prepared 100-row ones), so rows go in as small multi-row statements prepared once
// (named in pg, `execute` in mysql2) and as single-row prepared statements in SQLite.
import Database from 'better-sqlite3';
import pg from 'pg';
import mysql from 'mysql2/promise';

export interface BulkWriter {
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** rows are value arrays in `columns` order */
  insert(table: string, columns: string[], rows: unknown[][]): Promise<void>;
  close(): Promise<void>;
}

/** Rows per statement on the servers (see the measurement above: 50-300 is the sweet spot). */
export const SERVER_ROWS_PER_STATEMENT = 100;

export function openSqliteWriter(file: string): BulkWriter {
  const db = new Database(file);
  db.pragma('foreign_keys = ON');
  const statements = new Map<string, Database.Statement>();
  return {
    async begin() {
      db.exec('BEGIN');
    },
    async commit() {
      db.exec('COMMIT');
    },
    async rollback() {
      if (db.inTransaction) db.exec('ROLLBACK');
    },
    async insert(table, columns, rows) {
      let stmt = statements.get(table);
      if (!stmt) {
        stmt = db.prepare(
          `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
        );
        statements.set(table, stmt);
      }
      for (const row of rows) stmt.run(row);
    },
    async close() {
      db.close();
    },
  };
}

function multiRow(
  quote: (n: string) => string,
  table: string,
  columns: string[],
  rows: number,
  placeholder: (i: number) => string,
): string {
  let n = 0;
  const tuples = Array.from({ length: rows }, () => `(${columns.map(() => placeholder(++n)).join(', ')})`);
  return `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values ${tuples.join(', ')}`;
}

export async function openPostgresWriter(connection: string | Record<string, unknown>, schema?: string): Promise<BulkWriter> {
  const client = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : (connection as pg.ClientConfig));
  await client.connect();
  await client.query(`SET TIME ZONE 'UTC'${schema ? `; SET search_path TO ${pg.escapeIdentifier(schema)}` : ''}`);
  const quote = (n: string): string => pg.escapeIdentifier(n);
  return {
    async begin() {
      await client.query('BEGIN');
    },
    async commit() {
      await client.query('COMMIT');
    },
    async rollback() {
      await client.query('ROLLBACK').catch(() => undefined);
    },
    async insert(table, columns, rows) {
      for (let i = 0; i < rows.length; i += SERVER_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + SERVER_ROWS_PER_STATEMENT);
        await client.query({
          name: `fb_load_${table}_${chunk.length}`,
          text: multiRow(quote, table, columns, chunk.length, (k) => `$${k}`),
          values: chunk.flat(),
        });
      }
    },
    async close() {
      await client.end();
    },
  };
}

export async function openMysqlWriter(connection: Record<string, unknown>): Promise<BulkWriter> {
  const conn = await mysql.createConnection({ ...(connection as mysql.ConnectionOptions), timezone: 'Z', dateStrings: true });
  await conn.query(`SET time_zone = '+00:00'`);
  const quote = (n: string): string => `\`${n.replace(/`/g, '``')}\``;
  return {
    async begin() {
      await conn.beginTransaction();
    },
    async commit() {
      await conn.commit();
    },
    async rollback() {
      await conn.rollback().catch(() => undefined);
    },
    async insert(table, columns, rows) {
      for (let i = 0; i < rows.length; i += SERVER_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(i, i + SERVER_ROWS_PER_STATEMENT);
        await conn.execute(
          multiRow(quote, table, columns, chunk.length, () => '?'),
          chunk.flat() as mysql.ExecuteValues,
        );
      }
    },
    async close() {
      await conn.end();
    },
  };
}
