import mssql from 'mssql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { testDatabase } from '../../test/support/databases.js';
import { openAdapter } from './index.js';
import { mssqlConfig } from './mssql.js';
import type { Row, SourceAdapter } from './types.js';

const db = await testDatabase('mssql');
const ROWS = 200_000;

async function collect(it: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Until the condition holds (the server's request list lags the client); no timing asserted. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

interface Pool {
  connect(): Promise<Pool>;
  request(): { input(name: string, value: unknown): void; query(sql: string): Promise<{ recordset: Array<Record<string, unknown>> }> };
  close(): Promise<void>;
}

if ('skip' in db) {
  describe.skip(`mssql adapter (${db.skip})`, () => it('needs a database', () => undefined));
} else {
  describe('mssql adapter (SQL Server)', () => {
    let adapter: SourceAdapter;
    let observer: Pool;
    const query = async (sql: string, params: Record<string, unknown> = {}): Promise<Array<Record<string, unknown>>> => {
      const request = observer.request();
      for (const [name, value] of Object.entries(params)) request.input(name, value);
      return (await request.query(sql)).recordset;
    };
    /** Status of the other sessions' requests whose statement carries the marker (needs VIEW SERVER STATE). */
    const requests = async (marker: string): Promise<string[]> =>
      (
        await query(
          `select r.status from sys.dm_exec_requests r cross apply sys.dm_exec_sql_text(r.sql_handle) t
           where t.text like @marker and r.session_id <> @@spid`,
          { marker: `%${marker}%` },
        )
      ).map((r) => String(r.status));

    beforeAll(async () => {
      observer = await (new mssql.ConnectionPool(mssqlConfig(db.url)) as Pool).connect();
      // A server-side generator (cross join of a catalog view numbered by row_number), not 200k round trips.
      await query(`
        create table big (id int primary key, name nvarchar(50), d date, ts datetime2(0), tsoff datetimeoffset(0),
          amount decimal(12,2), huge bigint, MixedCase nvarchar(10));
        with n as (select top (${ROWS}) cast(row_number() over (order by (select null)) as int) as g from sys.all_objects a cross join sys.all_objects b)
        insert into big select g, concat('name ', g), dateadd(day, g % 1000, cast('2020-01-01' as date)),
          dateadd(second, g, cast('2020-01-01 10:00:00' as datetime2(0))), cast('2020-01-01 10:00:00 +02:00' as datetimeoffset(0)),
          (g % 10000) / 100.0, 9007199254740993, case when g % 2 = 0 then 'x' end
        from n;`);
      adapter = await openAdapter(db.config());
    }, 300_000);

    afterAll(async () => {
      await adapter?.close();
      await observer?.close();
      await db.cleanup();
    }, 300_000);

    it('streams portable values: dates and timestamps as text, DECIMAL and BIGINT as exact strings, keys lower-cased', async () => {
      const [row] = await collect(adapter.stream({ table: 'big', where: [{ column: 'ID', op: '=', value: 1 }] }));
      expect(row).toEqual({
        id: 1,
        name: 'name 1',
        d: '2020-01-02',
        ts: '2020-01-01 10:00:01',
        tsoff: '2020-01-01T08:00:00.000Z',
        amount: '0.01',
        huge: '9007199254740993',
        mixedcase: null,
      });
      const [other] = await collect(adapter.stream({ table: 'big', where: [{ column: 'id', op: '=', value: 12345 }] }));
      // d = 2020-01-01 + (12345 % 1000) days
      const d = new Date(Date.UTC(2020, 0, 1 + (12345 % 1000))).toISOString().slice(0, 10);
      expect(other).toMatchObject({ amount: '23.45', mixedcase: null, d });
      expect(Object.values(other!).some((v) => v instanceof Date)).toBe(false);
    });

    it('streams from the server: the request is still running after the first row, and break ends it', async () => {
      const marker = `fbt_cursor_${Date.now()}`;
      // ~200 MB of result: far more than socket buffers, so a server that is not held back is still sending
      const rows = adapter.stream({ sql: `select /* ${marker} */ b.*, replicate(N'x', 500) as pad from big b` }, { batchSize: 100 });
      const iterator = rows[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.value).toMatchObject({ id: expect.any(Number), pad: 'x'.repeat(500) });
      // A client that read the whole result before handing out rows would have let the request finish.
      expect(await requests(marker)).toHaveLength(1);
      await iterator.return?.();
      expect(await eventually(async () => (await requests(marker)).length === 0)).toBe(true);
      // and the pooled connection is usable again
      expect(await collect(adapter.stream({ table: 'big', where: [{ column: 'id', op: '=', value: 2 }] }))).toHaveLength(1);
    }, 30_000);

    it('streams a table much larger than batchSize completely', async () => {
      let count = 0;
      let last = 0;
      for await (const row of adapter.stream({ table: 'big', orderBy: ['id'] }, { batchSize: 500 })) {
        count++;
        expect(row.id).toBeGreaterThan(last);
        last = row.id as number;
      }
      expect(count).toBe(ROWS);
    }, 300_000);

    it('aborting the signal ends the stream with the abort reason and ends the request', async () => {
      const marker = `fbt_abort_${Date.now()}`;
      const controller = new AbortController();
      let seen = 0;
      const run = async (): Promise<void> => {
        for await (const _row of adapter.stream({ sql: `select /* ${marker} */ * from big`, limit: ROWS }, { signal: controller.signal, batchSize: 50 })) {
          if (++seen === 5) controller.abort(new Error('stop here'));
        }
      };
      await expect(run()).rejects.toThrow('stop here');
      expect(seen).toBe(5);
      expect(await eventually(async () => (await requests(marker)).length === 0)).toBe(true);
    }, 30_000);

    it('an already aborted signal reads nothing', async () => {
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      await expect(collect(adapter.stream({ table: 'big' }, { signal: controller.signal }))).rejects.toThrow('too late');
    });

    it('pushes filters, order and limit down, and wraps sql sources', async () => {
      const rows = await collect(
        adapter.stream({
          sql: { mssql: 'select id, MixedCase as tag from big where id <= 10', default: 'select nonsense' },
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
      const ranged = await collect(
        adapter.stream({
          table: 'big',
          where: [
            { column: 'd', op: '>=', value: '2020-01-05' },
            { column: 'id', op: '<', value: 10 },
          ],
          orderBy: ['id'],
        }),
      );
      expect(ranged.map((r) => r.id)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    it('lists columns lower-cased', async () => {
      expect(await adapter.columns({ table: 'big' })).toEqual(['id', 'name', 'd', 'ts', 'tsoff', 'amount', 'huge', 'mixedcase']);
      expect(await adapter.columns({ sql: 'select 1 as One, 2 as two' })).toEqual(['one', 'two']);
    });

    it('reports a missing table as a ConnectorError naming it', async () => {
      const err = await collect(adapter.stream({ table: 'no_such_table' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain('table no_such_table');
    });

    it('reports a dead server as a ConnectorError without the password', async () => {
      const dead = await openAdapter(
        db.config({ name: 'dead-mssql', connection: 'mssql://someone:sekret-Pw-42@127.0.0.1:1/nowhere?trustServerCertificate=true' }),
      );
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
