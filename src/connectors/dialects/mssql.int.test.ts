import mssql from 'mssql';
import * as vitest from 'vitest';
import { testDatabase } from '../../../test/support/databases.js';
import { describeAdapterContract } from '../../../test/support/adapter-contract.js';
import { mssqlConfig } from './mssql-adapter.js';

interface Pool {
  connect(): Promise<Pool>;
  request(): { input(name: string, value: unknown): void; query(sql: string): Promise<{ recordset: Array<Record<string, unknown>> }> };
  close(): Promise<void>;
}

describeAdapterContract(vitest, 'mssql adapter (SQL Server)', await testDatabase('mssql'), async (db) => {
  const observer = await (new mssql.ConnectionPool(mssqlConfig(db.url)) as Pool).connect();
  const query = async (sql: string, params: Record<string, unknown> = {}): Promise<Array<Record<string, unknown>>> => {
    const request = observer.request();
    for (const [name, value] of Object.entries(params)) request.input(name, value);
    return (await request.query(sql)).recordset;
  };
  return {
    config: db.config(),
    table: 'big',
    // A server-side generator (cross join of a catalog view numbered by row_number), not 200k round trips.
    createTable: (rows) => [
      `create table big (id int primary key, name nvarchar(50), d date, ts datetime2(0), tsoff datetimeoffset(0),
        amount decimal(12,2), huge bigint, MixedCase nvarchar(10));
      with n as (select top (${rows}) cast(row_number() over (order by (select null)) as int) as g from sys.all_objects a cross join sys.all_objects b)
      insert into big select g, concat('name ', g), dateadd(day, g % 1000, cast('2020-01-01' as date)),
        dateadd(second, g, cast('2020-01-01 10:00:00' as datetime2(0))), cast('2020-01-01 10:00:00 +02:00' as datetimeoffset(0)),
        (g % 10000) / 100.0, 9007199254740993, case when g % 2 = 0 then 'x' end
      from n;`,
    ],
    execute: async (sql) => void (await query(sql)),
    probe: {
      /** the other sessions' requests whose statement carries the marker (needs VIEW SERVER STATE) */
      activeQueries: async (marker) =>
        (
          await query(
            `select r.status from sys.dm_exec_requests r cross apply sys.dm_exec_sql_text(r.sql_handle) t
             where t.text like @marker and r.session_id <> @@spid`,
            { marker: `%${marker}%` },
          )
        ).length,
    },
    row1: {
      id: 1,
      name: 'name 1',
      d: '2020-01-02',
      ts: '2020-01-01 10:00:01',
      tsoff: '2020-01-01T08:00:00.000Z',
      amount: '0.01',
      huge: '9007199254740993',
      mixedcase: null,
    },
    dateText: (ymd) => ymd,
    // ~200 MB of result: far more than socket buffers, so a server that is not held back is still sending
    cursorQuery: (marker) => ({ sql: `select /* ${marker} */ b.*, replicate(N'x', 500) as pad from big b` }),
    cursorFirstRow: { id: vitest.expect.any(Number), pad: 'x'.repeat(500) },
    derivedSql: 'select id, MixedCase as tag from big where id <= 10',
    columnsSql: 'select 1 as One, 2 as two',
    missingTable: 'no_such_table',
    deadServer: (authority) => ({ name: 'dead-mssql', connection: `mssql://${authority}/nowhere?trustServerCertificate=true` }),
    close: async () => {
      await observer.close();
      await db.cleanup();
    },
  };
});
