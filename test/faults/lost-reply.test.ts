// Issue 8: a job store write that commits but whose reply is lost (the connection drops after the COMMIT).
// The store is wrapped so that a chosen write runs for real and then throws as a lost connection does.
// Before the fix, a lost `start` reply made the runner's retry find the job no longer queued and give up,
// leaving it `running` with nothing running it until a restart; a lost `complete` reply read as a cancel
// and deleted the job's files. Expected: the job completes, files intact, without a restart.
// The same against PostgreSQL, where the store's connections are really killed (pg_terminate_backend, by
// this test's application_name) right after the commit.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobStore } from '../../src/jobs/job-store.js';
import { PostgresJobStore } from '../../src/jobs/job-store-postgres.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import { captureLog } from '../support/log-capture.js';
import { fakeServer } from '../support/test-server.js';

type Write = 'start' | 'complete';

const lostConnection = (): Error => Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });

/**
 * A store whose next `lose[write]` calls of a write commit and then throw; while `down`, every call throws
 * before reaching the store. `afterCommit` runs between the commit and the throw (PostgreSQL: kill the
 * store's connections).
 */
function lossyStore(inner: JobStore, afterCommit: () => Promise<void> = async () => undefined) {
  const state = { lose: { start: 0, complete: 0 } as Record<Write, number>, down: false };
  const guard =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>, write?: Write) =>
    async (...a: A): Promise<R> => {
      if (state.down) throw lostConnection();
      const result = await f(...a);
      if (write && state.lose[write] > 0) {
        state.lose[write]--;
        await afterCommit();
        throw lostConnection();
      }
      return result;
    };
  const store: JobStore = {
    init: () => inner.init(),
    close: () => inner.close(),
    get: guard((id) => inner.get(id)),
    list: guard((s) => inner.list(s)),
    active: guard((c) => inner.active(c)),
    dueForCleanup: guard((n) => inner.dueForCleanup(n)),
    create: guard((j) => inner.create(j)),
    start: guard((...a) => inner.start(...a), 'start'),
    progress: guard((id, t) => inner.progress(id, t)),
    complete: guard((...a) => inner.complete(...a), 'complete'),
    fail: guard((...a) => inner.fail(...a)),
    requeue: guard((...a) => inner.requeue(...a)),
    cancel: guard((id) => inner.cancel(id)),
    expire: guard((id) => inner.expire(id)),
    hold: guard((...a) => inner.hold(...a)),
    takeOver: guard((...a) => inner.takeOver(...a)),
    release: guard((...a) => inner.release(...a)),
  };
  return { store, state };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function server(store: JobStore, options: { retries: number; sweepIntervalMs?: number }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-lost-reply-'));
  dirs.push(dataDir);
  const log = captureLog();
  const control = { calls: 0 };
  const s = await fakeServer({
    dataDir,
    store,
    control,
    logger: log.logger,
    storeRetry: { retries: options.retries, minTimeout: 10, maxTimeout: 50 },
    sweepIntervalMs: options.sweepIntervalMs ?? 0,
  });
  const kick = async (): Promise<string> => {
    const res = await s.app.inject({
      method: 'GET',
      url: '/fhir/$export?_type=Patient',
      headers: { accept: 'application/fhir+json', prefer: 'respond-async' },
    });
    expect(res.statusCode).toBe(202);
    return new URL(String(res.headers['content-location'])).pathname;
  };
  const status = (path: string) => s.app.inject({ method: 'GET', url: path });
  /** polls the status until it is no longer 202 (or gives up) */
  const settled = async (path: string, ms = 10_000) => {
    const until = Date.now() + ms;
    for (;;) {
      const res = await status(path);
      if (res.statusCode !== 202 || Date.now() > until) return res;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { s, log, control, kick, status, settled, dataDir };
}

/** Every file of a completed job's manifest can be downloaded. */
async function expectFilesServed(s: Awaited<ReturnType<typeof server>>['s'], manifest: { output: Array<{ url: string }> }) {
  expect(manifest.output.length).toBeGreaterThan(0);
  for (const o of manifest.output) {
    const res = await s.app.inject({ method: 'GET', url: new URL(o.url).pathname, headers: { accept: 'application/fhir+ndjson' } });
    expect(res.statusCode, o.url).toBe(200);
    expect(res.body.length).toBeGreaterThan(0);
  }
}

function scenarios(name: string, makeStore: () => Promise<{ store: JobStore; state: ReturnType<typeof lossyStore>['state'] }>) {
  describe(`${name}: a state change committed whose reply was lost`, () => {
    it('start: the retry sees the job running and runs it; it completes once', async () => {
      const { store, state } = await makeStore();
      const t = await server(store, { retries: 5 });
      try {
        state.lose.start = 1;
        const path = await t.kick();
        await t.s.runner.idle();
        const res = await t.status(path);
        expect(res.statusCode).toBe(200);
        expect(t.control.calls).toBe(1);
        expect(t.log.lines.map((l) => l.msg)).toContain('export job: the job store did start although its reply was lost');
        await expectFilesServed(t.s, res.json());
      } finally {
        await t.s.close();
      }
    });

    it('complete: the job shows completed and its files are kept (not taken for a cancel)', async () => {
      const { store, state } = await makeStore();
      const t = await server(store, { retries: 5 });
      try {
        state.lose.complete = 1;
        const path = await t.kick();
        await t.s.runner.idle();
        const res = await t.status(path);
        expect(res.statusCode).toBe(200);
        expect(existsSync(join(t.dataDir, 'jobs', path.split('/').pop()!))).toBe(true);
        await expectFilesServed(t.s, res.json());
        expect(t.log.lines.map((l) => l.msg)).not.toContain('export job stopped: cancelled');
      } finally {
        await t.s.close();
      }
    });

    it('start, then the store stays down past the retries: once it answers, the sweep runs the job again, no restart', async () => {
      const { store, state } = await makeStore();
      const t = await server(store, { retries: 2, sweepIntervalMs: 100 });
      try {
        state.lose.start = 1;
        const down = t.log.waitFor((l) => l.msg === 'export job: the job store failed to start; retrying');
        const path = await t.kick();
        await down;
        state.down = true;
        await t.log.waitFor((l) => String(l.msg).startsWith('export job: the job store stayed unavailable'));
        expect(t.control.calls).toBe(0);
        state.down = false;
        await t.log.waitFor((l) => l.msg === 'export job: the store shows it running but nothing runs it; running it again');
        const res = await t.settled(path);
        expect(res.statusCode).toBe(200);
        expect(t.control.calls).toBe(1);
        await expectFilesServed(t.s, res.json());
      } finally {
        await t.s.close();
      }
    }, 20_000);
  });
}

scenarios('SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-lost-reply-store-'));
  dirs.push(dir);
  return lossyStore(new SqliteJobStore(join(dir, 'jobs.sqlite')));
});

const db = await testDatabase('postgres');
if ('skip' in db) it.skip(`PostgreSQL lost replies: ${(db as { skip: string }).skip}`, () => undefined);
else {
  const database = db as TestDatabase;
  const schemas: string[] = [];
  const appName = `fhir-bridge-harden-lost-reply-${randomBytes(4).toString('hex')}`;
  afterAll(async () => {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await c.end();
    await database.cleanup();
  });
  /** kills every connection of this test's store (by its application_name) from a second connection */
  const killStoreConnections = async (): Promise<void> => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
      expect(killed.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
  };
  scenarios('PostgreSQL', async () => {
    const schema = `${database.schema}_harden_lost${schemas.length}`;
    schemas.push(schema);
    const inner = new PostgresJobStore({ connectionString: database.url, schema, applicationName: appName, idleTimeoutMillis: 0 });
    return lossyStore(inner, killStoreConnections);
  });
}
