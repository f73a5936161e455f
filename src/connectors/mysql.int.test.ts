import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { testDatabase } from '../../test/support/databases.js';
import { openAdapter } from './index.js';
import type { Row, SourceAdapter } from './types.js';

const db = await testDatabase('mysql');
const ROWS = 200_000;

async function collect(it: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Until the condition holds (the server's process list lags the client); no timing asserted. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

if ('skip' in db) {
  describe.skip(`mysql adapter (${db.skip})`, () => it('needs a database', () => undefined));
} else {
  describe('mysql adapter (MariaDB)', () => {
    let adapter: SourceAdapter;
    let observer: mysql.Connection;
    const running = async (marker: string): Promise<boolean> => {
      const [rows] = await observer.query<mysql.RowDataPacket[]>(
        `select command from information_schema.processlist where info like ? and id <> connection_id()`,
        [`%${marker}%`],
      );
      return rows.some((r) => r.command === 'Query');
    };

    beforeAll(async () => {
      observer = await mysql.createConnection({ uri: db.url, multipleStatements: true });
      await observer.query(`
        create table digits (d int primary key);
        insert into digits values (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
        create table big (id int primary key, name varchar(40), d date, ts datetime, amount decimal(12,2), huge bigint, MixedCase varchar(5));
        insert into big
          select n, concat('name ', n), date_add('2020-01-01', interval n % 1000 day), date_add('2020-01-01 10:00:00', interval n second),
                 (n % 10000) / 100.0, 9007199254740993, case when n % 2 = 0 then 'x' end
          from (select 1 + a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d as n
                from digits a, digits b, digits c, digits e, digits f, (select d from digits where d < 2) g) s;`);
      adapter = await openAdapter(db.config());
    }, 120_000);

    afterAll(async () => {
      await adapter?.close();
      await observer?.end();
      await db.cleanup();
    });

    it('streams portable values: dates as text, DECIMAL and BIGINT as exact strings, keys lower-cased', async () => {
      const [row] = await collect(adapter.stream({ table: 'big', where: [{ column: 'ID', op: '=', value: 1 }] }));
      expect(row).toEqual({
        id: 1,
        name: 'name 1',
        d: '2020-01-02',
        ts: '2020-01-01 10:00:01',
        amount: '0.01',
        huge: '9007199254740993',
        mixedcase: null,
      });
    });

    it('streams off the socket: the query is still running after the first row, and break stops it', async () => {
      const marker = `fbt_stream_${Date.now()}`;
      // ~110 MB if sent whole: far more than socket buffers hold, so the server can only be done if the
      // client read everything
      const sql = `select /* ${marker} */ big.*, repeat('x', 500) as pad from big`;
      const iterator = adapter.stream({ sql, limit: ROWS }, { batchSize: 100 })[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      // A client that read the whole result before yielding would have let the server finish the query.
      expect(await running(marker)).toBe(true);
      await iterator.return?.();
      expect(await eventually(async () => !(await running(marker)))).toBe(true);
    });

    it('streams a table much larger than batchSize completely', async () => {
      let count = 0;
      for await (const _row of adapter.stream({ table: 'big' }, { batchSize: 500 })) count++;
      expect(count).toBe(ROWS);
    }, 120_000);

    it('aborting the signal ends the stream with the abort reason', async () => {
      const controller = new AbortController();
      let seen = 0;
      const run = async (): Promise<void> => {
        for await (const _row of adapter.stream({ table: 'big' }, { signal: controller.signal, batchSize: 50 })) {
          if (++seen === 5) controller.abort(new Error('stop here'));
        }
      };
      await expect(run()).rejects.toThrow('stop here');
      expect(seen).toBe(5);
      // the pool still works afterwards
      expect(await collect(adapter.stream({ table: 'big', limit: 2 }))).toHaveLength(2);
    });

    it('pushes filters, order and limit down, and wraps sql sources', async () => {
      const rows = await collect(
        adapter.stream({
          sql: { mysql: 'select id, MixedCase as tag from big where id <= 10', default: 'select nonsense' },
          where: [
            { column: 'TAG', op: 'is not null' },
            { column: 'id', op: 'not in', value: [4] },
          ],
          orderBy: ['id desc'],
          limit: 3,
        }),
      );
      expect(rows).toEqual([
        { id: 10, tag: 'x' },
        { id: 8, tag: 'x' },
        { id: 6, tag: 'x' },
      ]);
      const inRows = await collect(adapter.stream({ table: 'big', where: [{ column: 'id', op: 'in', value: [3, 7, 400000] }], orderBy: ['id'] }));
      expect(inRows.map((r) => r.id)).toEqual([3, 7]);
    });

    it('lists columns lower-cased', async () => {
      expect(await adapter.columns({ table: 'big' })).toEqual(['id', 'name', 'd', 'ts', 'amount', 'huge', 'mixedcase']);
    });

    it('reports a missing table as a ConnectorError naming it', async () => {
      const err = await collect(adapter.stream({ table: 'no_such_table' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain('table no_such_table');
    });

    it('reports a dead server as a ConnectorError without the password', async () => {
      const dead = await openAdapter(db.config({ name: 'dead-mysql', connection: 'mysql://someone:sekret-Pw-42@127.0.0.1:1/nowhere' }));
      try {
        const err = await dead.ping().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectorError);
        expect((err as Error).message).toContain('127.0.0.1:1');
        expect((err as Error).message).not.toContain('sekret-Pw-42');
        const streamErr = await collect(dead.stream({ table: 'patients' })).catch((e: unknown) => e);
        expect(streamErr).toBeInstanceOf(ConnectorError);
        expect((streamErr as Error).message).toContain('table patients');
        expect(String((streamErr as Error).stack)).not.toContain('sekret-Pw-42');
      } finally {
        await dead.close();
      }
    });
  });
}
