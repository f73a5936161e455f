import oracledb from 'oracledb';
import * as vitest from 'vitest';
import { testDatabase } from '../../../test/support/databases.js';
import { describeAdapterContract } from '../../../test/support/adapter-contract.js';
import { oracleConfig } from './oracle-adapter.js';

interface Connection {
  execute(sql: string, binds?: unknown[], options?: Record<string, unknown>): Promise<{ rows?: unknown[][] }>;
  close(): Promise<void>;
}

describeAdapterContract(vitest, 'oracle adapter', await testDatabase('oracle'), async (db) => {
  // The schema is a private user when the URL's user may create one, else the URL's own schema (see
  // test/support/databases.ts): either way the table name carries the unique prefix.
  const big = `${db.schema}_big`.toUpperCase();
  const observer = (await oracledb.getConnection(oracleConfig(db.url))) as Connection;
  const seesSql = await observer.execute('select count(*) from v$sql where rownum = 1').then(
    () => true,
    () => false,
  );
  return {
    // ONE pooled connection: a connection kept by an abandoned stream would make the next query wait
    // until the pool's queue timeout and fail.
    config: db.config({ pool: { max: 1 } }),
    table: big,
    // A server-side generator (CONNECT BY LEVEL), not 200k round trips.
    createTable: (rows) => [
      `create table ${big} (id number(10) primary key, name varchar2(50), d date, ts timestamp(3),
        tstz timestamp(3) with time zone, amount number(12,2), huge number(19), "MixedCase" varchar2(10))`,
      `insert /*+ append */ into ${big}
        select level, 'name ' || level, date '2020-01-01' + mod(level, 1000), timestamp '2020-01-01 10:00:00' + numtodsinterval(level, 'SECOND'),
          timestamp '2020-01-01 10:00:00.250 +02:00', mod(level, 10000) / 100, 9007199254740993, case when mod(level, 2) = 0 then 'x' end
        from dual connect by level <= ${rows}`,
      'commit',
    ],
    dropTable: [`drop table ${big} purge`],
    execute: async (sql) => void (await observer.execute(sql)),
    // A fetch pause leaves the session INACTIVE, so the server's rows-sent count is what shows streaming.
    probe: {
      rowsSent: async (marker) => {
        if (!seesSql) return undefined;
        const result = await observer.execute(`select nvl(sum(rows_processed), 0) from v$sql where sql_text like :1`, [`%${marker}%`]);
        return Number(result.rows?.[0]?.[0]);
      },
      unavailable: 'the server-side half needs SELECT on v$sql for the test user',
    },
    row1: {
      id: 1,
      name: 'name 1',
      d: '2020-01-02 00:00:00',
      ts: '2020-01-01 10:00:01',
      tstz: '2020-01-01T08:00:00.250Z',
      amount: '0.01',
      huge: '9007199254740993',
      mixedcase: null,
    },
    // an Oracle DATE carries a time of day
    dateText: (ymd) => `${ymd} 00:00:00`,
    dateParam: (ymd) => new Date(`${ymd}T00:00:00Z`),
    cursorQuery: (marker) => ({ sql: `select /* ${marker} */ * from ${big}`, orderBy: ['id'] }),
    cursorFirstRow: { id: 1 },
    derivedSql: `select id, "MixedCase" as tag from ${big} where id <= 10`,
    columnsSql: 'select 1 as "One", 2 as two from dual',
    missingTable: `${db.schema}_missing`,
    deadServer: (authority) => ({ name: 'dead-oracle', connection: `oracle://${authority}/FREEPDB1` }),
    close: async () => {
      await observer.close();
      await db.cleanup();
    },
  };
});
