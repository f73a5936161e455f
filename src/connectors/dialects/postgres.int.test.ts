import pg from 'pg';
import * as vitest from 'vitest';
import { testDatabase } from '../../../test/support/databases.js';
import { describeAdapterContract } from '../../../test/support/adapter-contract.js';

describeAdapterContract(vitest, 'postgres adapter', await testDatabase('postgres'), async (db) => {
  const observer = new pg.Client({ connectionString: db.url });
  await observer.connect();
  return {
    config: db.config(),
    table: 'big',
    createTable: (rows) => [
      `create table big (id int primary key, name text, d date, ts timestamp, tstz timestamptz, amount numeric(12,2), huge int8, "MixedCase" text);
      insert into big select g, 'name ' || g, date '2020-01-01' + (g % 1000), timestamp '2020-01-01 10:00:00' + g * interval '1 second',
        timestamptz '2020-01-01 10:00:00+02' , (g % 10000) / 100.0, 9007199254740993, case when g % 2 = 0 then 'x' end
        from generate_series(1, ${rows}) g;`,
    ],
    execute: async (sql) => void (await observer.query(sql)),
    probe: {
      activeQueries: async (marker) =>
        (
          await observer.query<{ state: string }>(`select state from pg_stat_activity where query like $1 and pid <> pg_backend_pid()`, [
            `%${marker}%`,
          ])
        ).rows.filter((r) => r.state === 'active').length,
    },
    row1: {
      id: 1,
      name: 'name 1',
      d: '2020-01-02',
      ts: '2020-01-01 10:00:01',
      tstz: '2020-01-01 08:00:00+00',
      amount: '0.01',
      huge: '9007199254740993',
      mixedcase: null,
    },
    dateText: (ymd) => ymd,
    // a server-side cursor: no need for a result larger than socket buffers
    cursorQuery: (marker) => ({ sql: `select /* ${marker} */ * from big`, orderBy: ['id'] }),
    cursorFirstRow: { id: 1 },
    derivedSql: 'select id, "MixedCase" as tag from big where id <= 10',
    columnsSql: 'select 1 as "One", 2 as two',
    missingTable: 'no_such_table',
    deadServer: (authority) => ({ name: 'dead-pg', connection: `postgres://${authority}/nowhere`, options: { connectTimeoutMs: 2000 } }),
    close: async () => {
      await observer.end();
      await db.cleanup();
    },
  };
});
