import oracledb from 'oracledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { testDatabase } from '../../test/support/databases.js';
import { openAdapter } from './index.js';
import { oracleConfig } from './oracle.js';
import type { Row, SourceAdapter } from './types.js';

const db = await testDatabase('oracle');
const ROWS = 200_000;

async function collect(it: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of it) out.push(r);
  return out;
}

interface Connection {
  execute(sql: string, binds?: unknown[], options?: Record<string, unknown>): Promise<{ rows?: unknown[][] }>;
  close(): Promise<void>;
}

if ('skip' in db) {
  describe.skip(`oracle adapter (${db.skip})`, () => it('needs a database', () => undefined));
} else {
  describe('oracle adapter', () => {
    // The schema is a private user when the URL's user may create one, else the URL's own schema (see
    // test/support/databases.ts): either way the table name carries the unique prefix.
    const big = `${db.schema}_big`.toUpperCase();
    let adapter: SourceAdapter;
    let observer: Connection;
    let seesSql = false;
    /** Rows the server has handed out so far for the statement carrying the marker (needs SELECT on v$sql). */
    const fetchedByServer = async (marker: string): Promise<number> => {
      const result = await observer.execute(`select nvl(sum(rows_processed), 0) from v$sql where sql_text like :1`, [`%${marker}%`]);
      return Number(result.rows?.[0]?.[0]);
    };

    beforeAll(async () => {
      observer = (await oracledb.getConnection(oracleConfig(db.url))) as Connection;
      seesSql = await observer.execute('select count(*) from v$sql where rownum = 1').then(
        () => true,
        () => false,
      );
      // A server-side generator (CONNECT BY LEVEL), not 200k round trips.
      await observer.execute(`create table ${big} (id number(10) primary key, name varchar2(50), d date, ts timestamp(3),
        tstz timestamp(3) with time zone, amount number(12,2), huge number(19), "MixedCase" varchar2(10))`);
      await observer.execute(`insert /*+ append */ into ${big}
        select level, 'name ' || level, date '2020-01-01' + mod(level, 1000), timestamp '2020-01-01 10:00:00' + numtodsinterval(level, 'SECOND'),
          timestamp '2020-01-01 10:00:00.250 +02:00', mod(level, 10000) / 100, 9007199254740993, case when mod(level, 2) = 0 then 'x' end
        from dual connect by level <= ${ROWS}`);
      await observer.execute('commit');
      adapter = await openAdapter(db.config({ pool: { max: 1 } }));
    }, 300_000);

    afterAll(async () => {
      await adapter?.close();
      await observer?.execute(`drop table ${big} purge`).catch(() => undefined);
      await observer?.close();
      await db.cleanup();
    }, 300_000);

    it('streams portable values: dates and timestamps as text, NUMBER as exact strings, keys lower-cased', async () => {
      const [row] = await collect(adapter.stream({ table: big.toLowerCase(), where: [{ column: 'id', op: '=', value: 1 }] }));
      expect(row).toEqual({
        id: 1,
        name: 'name 1',
        d: '2020-01-02 00:00:00',
        ts: '2020-01-01 10:00:01',
        tstz: '2020-01-01T08:00:00.250Z',
        amount: '0.01',
        huge: '9007199254740993',
        mixedcase: null,
      });
      const [other] = await collect(adapter.stream({ table: big, where: [{ column: 'ID', op: '=', value: 12340 }] }));
      // amount = (12340 % 10000) / 100 keeps the column's two decimals; d = 2020-01-01 + (12340 % 1000) days
      const d = `${new Date(Date.UTC(2020, 0, 1 + (12340 % 1000))).toISOString().slice(0, 10)} 00:00:00`;
      expect(other).toMatchObject({ id: 12340, amount: '23.40', d, mixedcase: 'x' });
      expect(Object.values(other!).some((v) => v instanceof Date)).toBe(false);
    });

    it('streams from the server: the query is still open after the first row, and break releases the connection', async (ctx) => {
      const marker = `fbt_cursor_${Date.now()}`;
      const rows = adapter.stream({ sql: `select /* ${marker} */ * from ${big}`, orderBy: ['id'] }, { batchSize: 100 });
      const iterator = rows[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.value).toMatchObject({ id: 1 });
      // A client that read the whole result before handing out the first row would have fetched all of it.
      const fetched = seesSql ? await fetchedByServer(marker) : undefined;
      await iterator.return?.();
      // The adapter's pool holds ONE connection: a connection kept by the abandoned stream would make this
      // wait until the pool's queue timeout and fail.
      expect(await collect(adapter.stream({ table: big, where: [{ column: 'id', op: '=', value: 2 }] }))).toHaveLength(1);
      if (fetched === undefined) ctx.skip('the server-side half needs SELECT on v$sql for the test user');
      expect(fetched).toBeLessThan(ROWS);
    }, 30_000);

    it('streams a table much larger than batchSize completely', async () => {
      let count = 0;
      let last = 0;
      for await (const row of adapter.stream({ table: big, orderBy: ['id'] }, { batchSize: 500 })) {
        count++;
        expect(row.id).toBeGreaterThan(last);
        last = row.id as number;
      }
      expect(count).toBe(ROWS);
    }, 300_000);

    it('aborting the signal ends the stream with the abort reason and releases the connection', async () => {
      const controller = new AbortController();
      let seen = 0;
      const run = async (): Promise<void> => {
        for await (const _row of adapter.stream({ table: big, limit: ROWS }, { signal: controller.signal, batchSize: 50 })) {
          if (++seen === 5) controller.abort(new Error('stop here'));
        }
      };
      await expect(run()).rejects.toThrow('stop here');
      expect(seen).toBe(5);
      // the single pooled connection is free again
      expect(await collect(adapter.stream({ table: big, where: [{ column: 'id', op: '=', value: 3 }] }))).toHaveLength(1);
    }, 30_000);

    it('an already aborted signal reads nothing', async () => {
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      await expect(collect(adapter.stream({ table: big }, { signal: controller.signal }))).rejects.toThrow('too late');
    });

    it('pushes filters, order and limit down, and wraps sql sources', async () => {
      const rows = await collect(
        adapter.stream({
          sql: { oracle: `select id, "MixedCase" as tag from ${big} where id <= 10`, default: 'select nonsense' },
          where: [
            { column: 'tag', op: 'is not null' },
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
      const inRows = await collect(adapter.stream({ table: big, where: [{ column: 'id', op: 'in', value: [3, 7, 400000] }], orderBy: ['id'] }));
      expect(inRows.map((r) => r.id)).toEqual([3, 7]);
      const ranged = await collect(
        adapter.stream({
          table: big,
          where: [
            { column: 'd', op: '>=', value: new Date(Date.UTC(2020, 0, 5)) },
            { column: 'id', op: '<', value: 10 },
          ],
          orderBy: ['id'],
        }),
      );
      expect(ranged.map((r) => r.id)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    it('lists columns lower-cased', async () => {
      expect(await adapter.columns({ table: big })).toEqual(['id', 'name', 'd', 'ts', 'tstz', 'amount', 'huge', 'mixedcase']);
      expect(await adapter.columns({ sql: 'select 1 as "One", 2 as two from dual' })).toEqual(['one', 'two']);
    });

    it('reports a missing table as a ConnectorError naming it', async () => {
      const err = await collect(adapter.stream({ table: `${db.schema}_missing` })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain(`table ${db.schema}_missing`);
    });

    it('reports a dead server as a ConnectorError without the password', async () => {
      const dead = await openAdapter(db.config({ name: 'dead-oracle', connection: 'oracle://someone:sekret-Pw-42@127.0.0.1:1/FREEPDB1' }));
      try {
        const err = await dead.ping().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectorError);
        expect((err as Error).message).toContain('127.0.0.1:1');
        expect((err as Error).message).not.toContain('sekret-Pw-42');
        const streamErr = await collect(dead.stream({ table: 'patients' })).catch((e: unknown) => e);
        expect(streamErr).toBeInstanceOf(ConnectorError);
        expect((streamErr as Error).message).toContain('table patients');
        expect(JSON.stringify(streamErr) + String((streamErr as Error).stack)).not.toContain('sekret-Pw-42');
      } finally {
        await dead.close();
      }
    }, 60_000);
  });
}
