// Issue 11, job ownership: the lease statements of both job stores, each instance being a store object of
// its own (PostgreSQL: its own connection pool; SQLite: its own connection to one file, as two processes on
// one machine would have). Two instances claiming one job: exactly one wins; two taking over expired jobs
// at once: each job is taken once; a live lease is never taken; completing or failing checks the owner; a
// table of the previous version is upgraded in place.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { JOB_TABLE_COLUMNS, newJobRow, type JobStore } from '../../src/jobs/job-store.js';
import { PostgresJobStore } from '../../src/jobs/job-store-postgres.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import { newJob } from '../support/job-store-contract.js';

const LONG = 60_000; // a lease that cannot expire during a test
const manifest = { transactionTime: 't', request: 'r', requiresAccessToken: false, output: [], error: [] };
const outcome = { resourceType: 'OperationOutcome' as const, issue: [{ severity: 'error' as const, code: 'exception' as const }] };

/** Waits until `ms` have passed on the clock (a lease of `ms` given before this call has then expired). */
const leasePassed = (ms: number) => new Promise((r) => setTimeout(r, ms + 5));

interface Pair {
  a: JobStore;
  b: JobStore;
  close(): Promise<void>;
}

function leaseCases(name: string, pair: () => Promise<Pair>, legacy: (rows: ReturnType<typeof newJobRow>[]) => Promise<JobStore>) {
  describe(`${name}: job leases`, () => {
    it('two instances starting the same jobs at once: each job is started by exactly one', async () => {
      const { a, b, close } = await pair();
      try {
        const ids = Array.from({ length: 20 }, (_, i) => `race${i}`);
        for (const id of ids) await a.create(newJob(id, null));
        const results = await Promise.all(
          ids.flatMap((id) => [
            a.start(id, 't', { owner: 'A', ms: LONG }).then((won) => ({ id, who: 'A', won })),
            b.start(id, 't', { owner: 'B', ms: LONG }).then((won) => ({ id, who: 'B', won })),
          ]),
        );
        for (const id of ids) {
          const winners = results.filter((r) => r.id === id && r.won);
          expect(winners, id).toHaveLength(1);
          const job = await b.get(id);
          expect(job).toMatchObject({ status: 'running', attempts: 1, owner: winners[0]!.who });
        }
        // every job has its one winner: none was lost between the two
        expect(results.filter((r) => r.won).length).toBe(ids.length);
      } finally {
        await close();
      }
    });

    it('a live lease is neither started nor taken over by another instance; its owner renews it', async () => {
      const { a, b, close } = await pair();
      try {
        await a.create(newJob('live', null));
        expect(await a.start('live', 't', { owner: 'A', ms: LONG })).toBe(true);
        expect(await b.takeOver({ owner: 'B', ms: LONG }, { graceMs: 0 })).toEqual([]);
        await a.create(newJob('held', null));
        expect(await a.hold(['held'], { owner: 'A', ms: LONG })).toEqual(['held']); // a kick-off A accepted
        expect(await b.start('held', 't', { owner: 'B', ms: LONG })).toBe(false);
        expect(await b.takeOver({ owner: 'B', ms: LONG }, { graceMs: 0 })).toEqual([]);
        // B renews only its own: A's jobs are not in its answer
        expect(await b.hold(['live', 'held'], { owner: 'B', ms: LONG })).toEqual([]);
        expect((await a.hold(['live', 'held'], { owner: 'A', ms: LONG })).sort()).toEqual(['held', 'live']);
        expect(await a.get('live')).toMatchObject({ status: 'running', owner: 'A', attempts: 1 });
      } finally {
        await close();
      }
    });

    it('an expired lease is taken over once: running → queued under the new owner, re-run counted at its start', async () => {
      const { a, b, close } = await pair();
      try {
        await a.create(newJob('dead', null));
        expect(await a.start('dead', 't1', { owner: 'A', ms: 50 })).toBe(true);
        await leasePassed(50);
        const taken = await b.takeOver({ owner: 'B', ms: LONG });
        expect(taken.map((t) => [t.job.id, t.was, t.previousOwner])).toEqual([['dead', 'running', 'A']]);
        expect(taken[0]!.job).toMatchObject({ status: 'queued', owner: 'B', attempts: 1 });
        expect(await a.takeOver({ owner: 'A2', ms: LONG })).toEqual([]); // B's lease is live now
        // the old owner can neither complete nor fail it any more; the new one runs it
        expect(await a.complete('dead', manifest, 'x', 'A')).toBe(false);
        expect(await a.fail('dead', outcome, 'x', 'A')).toBe(false);
        expect(await a.requeue('dead', false, 'A')).toBe(false);
        expect(await b.start('dead', 't2', { owner: 'B', ms: LONG })).toBe(true);
        expect(await a.complete('dead', manifest, 'x', 'A')).toBe(false);
        expect(await b.complete('dead', manifest, 'x', 'B')).toBe(true);
        expect(await a.get('dead')).toMatchObject({ status: 'completed', attempts: 2, transactionTime: 't2', owner: 'B' });
      } finally {
        await close();
      }
    });

    it('two instances taking over expired jobs at once: every job is taken by exactly one of them', async () => {
      const { a, b, close } = await pair();
      try {
        const ids = Array.from({ length: 30 }, (_, i) => `orphan${String(i).padStart(2, '0')}`);
        for (const id of ids) {
          await a.create(newJob(id, null));
          await a.start(id, 't', { owner: 'dead', ms: 30 });
        }
        await leasePassed(30);
        const [byA, byB] = await Promise.all([a.takeOver({ owner: 'A', ms: LONG }), b.takeOver({ owner: 'B', ms: LONG })]);
        const all = [...byA, ...byB].map((t) => t.job.id).sort();
        expect(all).toEqual(ids);
        for (const t of byA) expect((await b.get(t.job.id))!.owner).toBe('A');
        for (const t of byB) expect((await b.get(t.job.id))!.owner).toBe('B');
      } finally {
        await close();
      }
    });

    it('a kick-off nobody claimed is taken only after the grace period; a released job at once', async () => {
      const { a, b, close } = await pair();
      try {
        await a.create(newJob('fresh', null));
        expect(await b.takeOver({ owner: 'B', ms: LONG }, { graceMs: LONG })).toEqual([]);
        expect((await b.takeOver({ owner: 'B', ms: LONG }, { graceMs: 0 })).map((t) => t.was)).toEqual(['queued']);
        // B shuts down cleanly: its queued job is released and A takes it at once
        await b.release('B');
        expect(await a.get('fresh')).not.toHaveProperty('owner');
        expect((await a.takeOver({ owner: 'A', ms: LONG }, { graceMs: LONG })).map((t) => [t.job.id, t.previousOwner])).toEqual([
          ['fresh', null],
        ]);
        // a clean shutdown mid-run: requeue (refunded) releases it too
        expect(await a.start('fresh', 't', { owner: 'A', ms: LONG })).toBe(true);
        expect(await a.requeue('fresh', true, 'A')).toBe(true);
        expect((await b.takeOver({ owner: 'B', ms: LONG }, { graceMs: LONG })).map((t) => t.job.attempts)).toEqual([0]);
      } finally {
        await close();
      }
    });

    it('at start-up an instance takes the jobs recorded under its own id (a restart with a fixed id), never otherwise', async () => {
      const { a, b, close } = await pair();
      try {
        await a.create(newJob('own', null));
        await a.start('own', 't', { owner: 'fixed', ms: LONG });
        expect(await b.takeOver({ owner: 'fixed', ms: LONG })).toEqual([]);
        expect((await b.takeOver({ owner: 'fixed', ms: LONG }, { mine: true })).map((t) => t.was)).toEqual(['running']);
      } finally {
        await close();
      }
    });

    it('a cancelled job its owner still holds is not cleaned up by others until the owner released it (or its lease expired)', async () => {
      const { a, b, close } = await pair();
      try {
        await a.create(newJob('cx', null));
        await a.start('cx', 't', { owner: 'A', ms: LONG });
        expect((await b.cancel('cx'))!.owner).toBe('A');
        expect(await a.hold(['cx'], { owner: 'A', ms: LONG })).toEqual([]); // the heartbeat tells the owner
        expect(await b.dueForCleanup(new Date().toISOString())).toEqual([]);
        await a.release('A', ['cx']); // the owner stopped it and deleted its files
        expect((await b.dueForCleanup(new Date().toISOString())).map((j) => j.id)).toEqual(['cx']);
        await a.create(newJob('cy', null));
        await a.start('cy', 't', { owner: 'dead', ms: 30 });
        await b.cancel('cy');
        await leasePassed(30);
        expect((await b.dueForCleanup(new Date().toISOString())).map((j) => j.id).sort()).toEqual(['cx', 'cy']);
      } finally {
        await close();
      }
    });

    it('upgrades a table of the previous version in place; its running job (no owner) is taken over at once', async () => {
      const now = new Date().toISOString();
      const running = { ...newJobRow(newJob('old-running', null), now), status: 'running', attempts: 1, transaction_time: now };
      const queued = newJobRow(newJob('old-queued', null), '2020-01-01T00:00:00.000Z');
      const store = await legacy([running, queued]);
      try {
        await store.init();
        await store.init(); // twice: nothing to add the second time
        expect(await store.get('old-running')).toMatchObject({ status: 'running', attempts: 1 });
        const taken = await store.takeOver({ owner: 'new', ms: LONG });
        expect(taken.map((t) => [t.job.id, t.was]).sort()).toEqual([
          ['old-queued', 'queued'],
          ['old-running', 'running'],
        ]);
      } finally {
        await store.close();
      }
    });
  });
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const sqliteFile = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-leases-'));
  dirs.push(dir);
  return join(dir, 'jobs.sqlite');
};

leaseCases(
  'SQLite',
  async () => {
    const file = await sqliteFile();
    const a = new SqliteJobStore(file);
    const b = new SqliteJobStore(file);
    await a.init();
    await b.init();
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  async (rows) => {
    const file = await sqliteFile();
    const db = new Database(file);
    db.exec(`CREATE TABLE export_jobs (${JOB_TABLE_COLUMNS})`);
    for (const row of rows) {
      const cols = Object.keys(row).filter((c) => c !== 'owner' && c !== 'lease_expires_at');
      db.prepare(`INSERT INTO export_jobs (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(
        Object.fromEntries(cols.map((c) => [c, (row as unknown as Record<string, unknown>)[c]])),
      );
    }
    db.close();
    return new SqliteJobStore(file);
  },
);

const db = await testDatabase('postgres');
if ('skip' in db) it.skip(`PostgreSQL job leases: ${(db as { skip: string }).skip}`, () => undefined);
else {
  const database = db as TestDatabase;
  const schemas: string[] = [];
  afterAll(async () => {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await c.end();
    await database.cleanup();
  });
  const schema = (): string => {
    const s = `${database.schema}_leases${schemas.length}`;
    schemas.push(s);
    return s;
  };
  leaseCases(
    'PostgreSQL',
    async () => {
      const s = schema();
      const a = new PostgresJobStore({ connectionString: database.url, schema: s });
      const b = new PostgresJobStore({ connectionString: database.url, schema: s });
      await Promise.all([a.init(), b.init()]); // two instances starting together
      return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
    async (rows) => {
      const s = schema();
      const c = new pg.Client({ connectionString: database.url });
      await c.connect();
      try {
        // the table exactly as the previous version created it
        await c.query(`CREATE SCHEMA "${s}"`);
        await c.query(`CREATE TABLE "${s}".export_jobs (${JOB_TABLE_COLUMNS})`);
        for (const row of rows) {
          const cols = Object.keys(row).filter((k) => k !== 'owner' && k !== 'lease_expires_at');
          await c.query(
            `INSERT INTO "${s}".export_jobs (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
            cols.map((k) => (row as unknown as Record<string, unknown>)[k]),
          );
        }
      } finally {
        await c.end();
      }
      return new PostgresJobStore({ connectionString: database.url, schema: s });
    },
  );
}
