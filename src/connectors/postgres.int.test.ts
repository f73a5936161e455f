import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { testDatabase } from '../../test/support/databases.js';
import { openAdapter } from './index.js';
import type { Row, SourceAdapter } from './types.js';

const db = await testDatabase('postgres');
const ROWS = 200_000;

async function collect(it: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Until the condition holds (the server updates pg_stat_activity asynchronously); no timing asserted. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

if ('skip' in db) {
  describe.skip(`postgres adapter (${db.skip})`, () => it('needs a database', () => undefined));
} else {
  describe('postgres adapter', () => {
    let adapter: SourceAdapter;
    let observer: pg.Client;
    const activity = async (marker: string): Promise<string[]> =>
      (
        await observer.query<{ state: string }>(`select state from pg_stat_activity where query like $1 and pid <> pg_backend_pid()`, [
          `%${marker}%`,
        ])
      ).rows.map((r) => r.state);

    beforeAll(async () => {
      observer = new pg.Client({ connectionString: db.url });
      await observer.connect();
      await observer.query(`
        create table big (id int primary key, name text, d date, ts timestamp, tstz timestamptz, amount numeric(12,2), huge int8, "MixedCase" text);
        insert into big select g, 'name ' || g, date '2020-01-01' + (g % 1000), timestamp '2020-01-01 10:00:00' + g * interval '1 second',
          timestamptz '2020-01-01 10:00:00+02' , (g % 10000) / 100.0, 9007199254740993, case when g % 2 = 0 then 'x' end
          from generate_series(1, ${ROWS}) g;`);
      adapter = await openAdapter(db.config());
    }, 120_000);

    afterAll(async () => {
      await adapter?.close();
      await observer?.end();
      await db.cleanup();
    });

    it('streams portable values: dates and timestamps as text, NUMERIC and BIGINT as exact strings, keys lower-cased', async () => {
      const [row] = await collect(adapter.stream({ table: 'big', where: [{ column: 'ID', op: '=', value: 1 }] }));
      expect(row).toEqual({
        id: 1,
        name: 'name 1',
        d: '2020-01-02',
        ts: '2020-01-01 10:00:01',
        tstz: '2020-01-01 08:00:00+00',
        amount: '0.01',
        huge: '9007199254740993',
        mixedcase: null,
      });
    });

    it('reads from a server-side cursor: the query is still running after the first row, and break releases it', async () => {
      const marker = `fbt_cursor_${Date.now()}`;
      const rows = adapter.stream({ sql: `select /* ${marker} */ * from big`, orderBy: ['id'] }, { batchSize: 100 });
      const iterator = rows[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.value).toMatchObject({ id: 1 });
      // A client that fetched the whole result would have finished the query by now.
      expect(await activity(marker)).toEqual(['active']);
      await iterator.return?.();
      expect(await eventually(async () => !(await activity(marker)).includes('active'))).toBe(true);
    });

    it('streams a table much larger than batchSize completely', async () => {
      let count = 0;
      let last = 0;
      for await (const row of adapter.stream({ table: 'big', orderBy: ['id'] }, { batchSize: 500 })) {
        count++;
        expect(row.id).toBeGreaterThan(last);
        last = row.id as number;
      }
      expect(count).toBe(ROWS);
    }, 120_000);

    it('aborting the signal ends the stream with the abort reason and releases the cursor', async () => {
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
      expect(await eventually(async () => !(await activity(marker)).includes('active'))).toBe(true);
    });

    it('pushes filters, order and limit down, and wraps sql sources', async () => {
      const rows = await collect(
        adapter.stream({
          sql: { postgres: 'select id, "MixedCase" as tag from big where id <= 10', default: 'select nonsense' },
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
      expect(await adapter.columns({ table: 'big' })).toEqual(['id', 'name', 'd', 'ts', 'tstz', 'amount', 'huge', 'mixedcase']);
      expect(await adapter.columns({ sql: 'select 1 as "One", 2 as two' })).toEqual(['one', 'two']);
    });

    it('reports a missing table as a ConnectorError naming it', async () => {
      const err = await collect(adapter.stream({ table: 'no_such_table' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain('table no_such_table');
    });

    it('reports a dead server as a ConnectorError without the password', async () => {
      const dead = await openAdapter(
        db.config({ name: 'dead-pg', connection: 'postgres://someone:sekret-Pw-42@127.0.0.1:1/nowhere', options: { connectTimeoutMs: 2000 } }),
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
    });
  });
}
