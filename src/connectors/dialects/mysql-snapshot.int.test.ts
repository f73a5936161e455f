// Issue 9: the connections a MariaDB snapshot pins (SnapshotConnections), lost while reads are open or
// waiting for one, against real MariaDB. No read may wait forever: not for a connection its own parent scan
// holds, not after the one it waits for died, not for one that never comes back.
import mysql from 'mysql2';
import type { Pool, PoolConnection } from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../../test/support/collect-rows.js';
import { testDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { ConnectorError } from '../../errors.js';
import type { Row, SourceQuery, SourceSnapshot } from '../types.js';
import { openMysql, SnapshotConnections } from './mysql-adapter.js';

const found = await testDatabase('mysql');
// 30 000 rows of 1 kB: far more than the socket buffers hold, so a scan paused after its first row keeps
// its server thread busy sending (processlist: Query) while the snapshot's other connection sleeps.
const BIG = 30_000;
const SMALL = 50;
const PARENT: SourceQuery = { sql: `select id, repeat('x', 1000) as pad from big` };
const CHILD: SourceQuery = { table: 'small', orderBy: ['id'] };
const LOST_NOTE = /^the source snapshot was lost mid-export \(1 of its 2 connections ended\); rows read after that may be the latest/;

if ('skip' in found) {
  describe.skip(`MariaDB snapshot connections (${found.skip})`, () => it('needs a database', () => undefined));
} else {
  const db: TestDatabase = found;

  describe('MariaDB snapshot connections', { timeout: 90_000 }, () => {
    let admin: mysqlPromise.Connection;

    beforeAll(async () => {
      admin = await mysqlPromise.createConnection({ uri: db.url, multipleStatements: true });
      await admin.query(`
        create table digits (d int primary key);
        insert into digits values (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
        create table big (id int primary key);
        insert into big select 1 + a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d
          from digits a, digits b, digits c, digits e, digits f where f.d < 3;
        create table small (id int primary key, v varchar(10));
        insert into small select 1 + a.d + 10*b.d, concat('v', a.d) from digits a, digits b where b.d < 5;`);
    }, 120_000);

    afterAll(async () => {
      await admin?.end();
      await db.cleanup();
    });

    /** Server threads on the test's database other than the admin's: the adapter's connections. */
    async function threads(): Promise<Array<{ id: number; command: string }>> {
      const [rows] = await admin.query('select id, command from information_schema.processlist where db = ? and id <> connection_id()', [
        db.schema,
      ]);
      return (rows as Array<{ id: number; command: string }>).map((r) => ({ id: Number(r.id), command: r.command }));
    }

    /** Kills the adapter's sleeping (idle) connection, once there is exactly one; waits until the server dropped it. */
    async function killTheSleepingOne(): Promise<void> {
      const sleeping = await eventually(async () => {
        const all = await threads();
        const idle = all.filter((t) => t.command === 'Sleep');
        return all.length === 2 && idle.length === 1 ? idle[0]! : undefined;
      }, 'one of the two pinned connections sleeping, the other sending');
      await admin.query(`kill connection ${sleeping.id}`);
      await eventually(async () => ((await threads()).some((t) => t.id === sleeping.id) ? undefined : true), 'the killed thread gone');
    }

    async function withSnapshot(run: (snapshot: SourceSnapshot) => Promise<void>): Promise<void> {
      const adapter = await openMysql(db.config());
      const snapshot = await adapter.beginSnapshot!({ concurrentReads: 2 });
      try {
        expect(await threads()).toHaveLength(2);
        await run(snapshot);
      } finally {
        await snapshot.release();
        await adapter.close();
      }
    }

    it("a read finding the snapshot's other connection killed reads on, not waiting for the one its parent scan holds", async () => {
      await withSnapshot(async (snapshot) => {
        const parent = snapshot.adapter.stream(PARENT, { batchSize: 100 })[Symbol.asyncIterator]();
        expect((await parent.next()).done).toBe(false);
        await killTheSleepingOne();

        // the child fetch of the parent's batch: the only live pinned connection is the parent's
        const children = await retried(() => collect(snapshot.adapter.stream(CHILD)));
        expect(children.map((r) => r.id)).toEqual(Array.from({ length: SMALL }, (_, i) => i + 1));
        expect(snapshot.notes).toEqual([expect.stringMatching(LOST_NOTE)]);

        // the parent scan still reads its snapshot to the end
        expect(await rest(parent)).toBe(BIG - 1);
      });
    });

    it('a read waiting for a pinned connection is woken when one dies, and reads on', async () => {
      await withSnapshot(async (snapshot) => {
        const parent = snapshot.adapter.stream(PARENT, { batchSize: 100 })[Symbol.asyncIterator]();
        expect((await parent.next()).done).toBe(false);
        // a second read holds the other connection: every row read, the stream not yet ended
        const held = snapshot.adapter.stream(CHILD)[Symbol.asyncIterator]();
        for (let i = 0; i < SMALL; i++) expect((await held.next()).done).toBe(false);

        // both pinned connections are in use, none lost: this one waits
        let settled = false;
        const waiting = collect(snapshot.adapter.stream(CHILD)).finally(() => {
          settled = true;
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(settled).toBe(false);
        expect(snapshot.notes).toEqual([]);

        await killTheSleepingOne(); // the held one: its socket is idle, so its end is seen
        expect(await waiting).toHaveLength(SMALL);
        expect(snapshot.notes).toEqual([expect.stringMatching(LOST_NOTE)]);

        await held.return?.(undefined);
        expect(await rest(parent)).toBe(BIG - 1);
      });
    });

    describe('SnapshotConnections on their own', () => {
      let pool: Pool;
      beforeAll(() => {
        pool = mysql.createPool({ uri: db.url, connectionLimit: 2 });
      });
      afterAll(async () => {
        await pool.promise().end();
      });
      const connection = (): Promise<PoolConnection> =>
        new Promise((resolve, reject) => pool.getConnection((err, conn) => (err ? reject(err) : resolve(conn))));

      it('a wait for a connection is bounded (a retryable failure, not a hang); a connection given back goes to the waiting read', async () => {
        const conn = await connection();
        const notes: string[] = [];
        const set = new SnapshotConnections([conn], notes, 300);
        const held = await set.take();
        expect(held).toBe(conn);
        await expect(set.take()).rejects.toThrow(/no connection of the source snapshot came free within 300 ms \(all 1 in use/);

        const waiting = set.take();
        set.give(held!, false);
        expect(await waiting).toBe(conn);
        expect(notes).toEqual([]);
        set.give(conn, false);
        await set.release();
      });

      it('a pinned connection mysql2 has closed is never handed out; once one is lost a read does not wait for the others', async () => {
        const [a, b] = [await connection(), await connection()];
        const notes: string[] = [];
        const set = new SnapshotConnections([a, b], notes, 60_000);
        a.destroy(); // closed on this side: no 'end' from the server yet
        expect(await set.take()).toBe(b);
        expect(notes).toEqual([]);
        // b is in use and a is gone: this read goes outside the snapshot at once, and the notes say so
        expect(await set.take()).toBeUndefined();
        expect(notes).toEqual([expect.stringMatching(LOST_NOTE)]);
        b.destroy();
        set.give(b, false); // closed while in use: not handed out again either
        expect(await set.take()).toBeUndefined();
        expect(notes).toHaveLength(1);
        await set.release();
      });
    });
  });
}

/** Polls `probe` until it answers something (up to 30 s: the machine may be loaded). */
async function eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What the pipeline does with a read that failed transiently (a pinned connection found dead): read again. */
async function retried(read: () => Promise<Row[]>): Promise<Row[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof ConnectorError && err.transient) || attempt >= 3) throw err;
    }
  }
}

async function rest(rows: AsyncIterator<Row>): Promise<number> {
  let n = 0;
  while (!(await rows.next()).done) n++;
  return n;
}
