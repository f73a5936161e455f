import mysql from 'mysql2/promise';
import * as vitest from 'vitest';
import { testDatabase } from '../../../test/support/databases.js';
import { CONTRACT_ROWS, describeAdapterContract } from '../../../test/support/adapter-contract.js';

describeAdapterContract(vitest, 'mysql adapter (MariaDB)', await testDatabase('mysql'), async (db) => {
  const observer = await mysql.createConnection({ uri: db.url, multipleStatements: true });
  return {
    config: db.config(),
    table: 'big',
    // digits cross-joined up to 2 * 10^5 (rows must not exceed that)
    createTable: (rows) => [
      `create table digits (d int primary key);
      insert into digits values (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
      create table big (id int primary key, name varchar(40), d date, ts datetime, amount decimal(12,2), huge bigint, MixedCase varchar(5));
      insert into big
        select n, concat('name ', n), date_add('2020-01-01', interval n % 1000 day), date_add('2020-01-01 10:00:00', interval n second),
               (n % 10000) / 100.0, 9007199254740993, case when n % 2 = 0 then 'x' end
        from (select 1 + a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d as n
              from digits a, digits b, digits c, digits e, digits f, (select d from digits where d < 2) g) s
        where n <= ${rows};`,
    ],
    execute: async (sql) => void (await observer.query(sql)),
    probe: {
      activeQueries: async (marker) => {
        const [rows] = await observer.query<mysql.RowDataPacket[]>(
          `select command from information_schema.processlist where info like ? and id <> connection_id()`,
          [`%${marker}%`],
        );
        return rows.filter((r) => r.command === 'Query').length;
      },
    },
    row1: {
      id: 1,
      name: 'name 1',
      d: '2020-01-02',
      ts: '2020-01-01 10:00:01',
      amount: '0.01',
      huge: '9007199254740993',
      mixedcase: null,
    },
    dateText: (ymd) => ymd,
    // ~110 MB if sent whole: far more than socket buffers hold, so the server can only be done if the
    // client read everything
    cursorQuery: (marker) => ({ sql: `select /* ${marker} */ big.*, repeat('x', 500) as pad from big`, limit: CONTRACT_ROWS }),
    cursorFirstRow: { id: vitest.expect.any(Number), pad: 'x'.repeat(500) },
    derivedSql: 'select id, MixedCase as tag from big where id <= 10',
    columnsSql: 'select 1 as One, 2 as two',
    missingTable: 'no_such_table',
    deadServer: (authority) => ({ name: 'dead-mysql', connection: `mysql://${authority}/nowhere` }),
    close: async () => {
      await observer.end();
      await db.cleanup();
    },
  };
});
