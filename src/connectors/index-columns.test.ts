// indexedColumns: SQLite for real; SQL Server and Oracle (which cannot run here) on their SQL and on how
// the adapters read the catalogue rows. PostgreSQL and MariaDB are covered in adapter-contract.ts.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPRESSION_KEY, groupIndexColumns, indexColumnsQuery, splitTableName } from './index-columns.js';
import { MssqlAdapter } from './dialects/mssql-adapter.js';
import { OracleAdapter, type OracleConnection, type OraclePool } from './dialects/oracle-adapter.js';
import { scratchConnector } from '../../test/support/scratch-connector.js';
import { SqliteAdapter } from './dialects/sqlite-adapter.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'sqlite', (dir) => path.join(dir, 'idx.sqlite'));

describe('sqlite indexedColumns', () => {
  let adapter: SqliteAdapter;
  beforeAll(() => {
    const file = path.join(tmp.dir, 'idx.sqlite');
    const db = new Database(file);
    db.exec(`create table Claim (Id integer primary key, Patient text);
             create table Line (Id text primary key, ClaimId text, Seq integer, Note text, unique (Note, Seq));
             create index line_claim_seq on Line (ClaimId, Seq);
             create index line_expr on Line (lower(Note), Seq);
             create table Bare (ClaimId text, Amount real);`);
    db.close();
    adapter = new SqliteAdapter('idx', file);
  });

  it('lists every index key in key order, lower-cased, with the rowid primary key', async () => {
    const lists = await adapter.indexedColumns('Line');
    expect(lists).toEqual(expect.arrayContaining([['id'], ['claimid', 'seq'], ['note', 'seq'], [EXPRESSION_KEY, 'seq']]));
    expect(lists).toHaveLength(4);
    expect(await adapter.indexedColumns('claim')).toEqual([['id']]);
  });

  it('answers [] for a table without an index, and sees one once it is created', async () => {
    expect(await adapter.indexedColumns('Bare')).toEqual([]);
    const db = new Database(path.join(tmp.dir, 'idx.sqlite'));
    db.exec('create index bare_claim on Bare (ClaimId)');
    db.close();
    expect(await adapter.indexedColumns('Bare')).toEqual([['claimid']]);
  });

  it('reads a schema-qualified name', async () => {
    expect(await adapter.indexedColumns('main.Bare')).toEqual([['claimid']]);
  });
});

describe('indexedColumns catalogue queries', () => {
  it('folds a qualified name as the dialect folds identifiers', () => {
    expect(splitTableName('ehr.claims', (n) => n.toUpperCase())).toEqual({ schema: 'EHR', table: 'CLAIMS' });
    expect(splitTableName('Claims')).toEqual({ table: 'Claims' });
  });

  it('asks each catalogue about the current schema unless the name has one', () => {
    expect(indexColumnsQuery('postgres', 'EHR.Claims')).toMatchObject({ bindings: ['ehr.claims'] });
    expect(indexColumnsQuery('postgres', 'x').sql).toMatch(/to_regclass\(\$1\)/);
    expect(indexColumnsQuery('mysql', 'claims')).toMatchObject({ bindings: [null, 'claims'] });
    expect(indexColumnsQuery('mysql', 'claims').sql).toMatch(/coalesce\(\?, database\(\)\)/);
    expect(indexColumnsQuery('mssql', 'dbo.claims')).toMatchObject({ bindings: ['dbo.claims'] });
    expect(indexColumnsQuery('mssql', 'x').sql).toMatch(/object_id\(@p0\) and ic\.key_ordinal > 0/);
    expect(indexColumnsQuery('oracle', 'claims')).toMatchObject({ bindings: [null, 'CLAIMS'] });
    expect(indexColumnsQuery('oracle', 'x').sql).toMatch(/all_ind_columns .*CURRENT_SCHEMA.*order by index_name, column_position/);
  });

  it('groups catalogue rows per index, keeping key order; a NULL column is an expression', () => {
    expect(
      groupIndexColumns([
        { index_name: 'a', column_name: 'ClaimId' },
        { index_name: 'b', column_name: null },
        { index_name: 'a', column_name: 'SEQ' },
        { INDEX_NAME: 'C', COLUMN_NAME: 'ID' },
        { index_name: 'b', column_name: 'seq' },
      ]),
    ).toEqual([['claimid', 'seq'], [EXPRESSION_KEY, 'seq'], ['id']]);
  });
});

const serverConfig = { file: '/c.yaml', timezone: 'UTC', mappings: [] as string[] };

describe('oracle indexedColumns (driver stand-in)', () => {
  it('runs the catalogue query with its binds and groups the rows', async () => {
    const calls: Array<{ sql: string; binds: unknown }> = [];
    let closed = 0;
    const conn: OracleConnection = {
      async execute(sql, binds) {
        calls.push({ sql, binds });
        return {
          rows: [
            { index_name: 'PK_LINE', column_name: 'ID' },
            { index_name: 'LINE_CLAIM', column_name: 'CLAIMID' },
          ],
        };
      },
      async breakExecution() {},
      async close() {
        closed++;
      },
    };
    const pool: OraclePool = { getConnection: async () => conn, close: async () => undefined };
    const adapter = new OracleAdapter({ ...serverConfig, name: 'ora', kind: 'oracle', connection: 'oracle://u:p@h/S' }, async () => pool);
    expect(await adapter.indexedColumns('ehr.line')).toEqual([['id'], ['claimid']]);
    expect(calls).toEqual([{ sql: indexColumnsQuery('oracle', 'x').sql, binds: ['EHR', 'LINE'] }]);
    expect(closed).toBe(1);
  });
});

describe('mssql indexedColumns (driver stand-in)', () => {
  it('binds the table as @p0 and groups the recordset', async () => {
    const adapter = new MssqlAdapter({ ...serverConfig, name: 'ms', kind: 'mssql', connection: 'mssql://sa:x@db.example/ehr' });
    const inputs: Array<[string, unknown]> = [];
    const queries: string[] = [];
    const request = {
      input: (name: string, value: unknown) => void inputs.push([name, value]),
      query: async (sql: string) => {
        queries.push(sql);
        return {
          recordset: [
            { index_name: 'ix', column_name: 'ClaimId' },
            { index_name: 'ix', column_name: 'Seq' },
          ],
        };
      },
    };
    // the pool is private: stand in for the connected one
    (adapter as unknown as { connecting: Promise<unknown> }).connecting = Promise.resolve({ request: () => request });
    expect(await adapter.indexedColumns('dbo.line')).toEqual([['claimid', 'seq']]);
    expect(inputs).toEqual([['p0', 'dbo.line']]);
    expect(queries).toEqual([indexColumnsQuery('mssql', 'dbo.line').sql]);
  });
});
