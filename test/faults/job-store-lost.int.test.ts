// Issue 8 item 1: the PostgreSQL job store loses its connections while an export runs. The store's
// connections are killed with pg_terminate_backend (only those with this test's application_name), then
// the database is made unreachable (the store connects through a TCP relay this test owns and closes).
// Expected: the process survives (no unhandled 'error' event of the pool), requests that need the store
// get 503 + OperationOutcome + Retry-After, and once the database is back the running job completes.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresJobStore } from '../../src/jobs/job-store-postgres.js';
import type { JobExecutor } from '../../src/jobs/runner.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import { captureLog } from '../support/log-capture.js';
import { fakeServer } from '../support/test-server.js';

const db = await testDatabase('postgres');

/** A TCP relay to the database that can be closed (connections refused) and reopened on the same port. */
function relay(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = async () => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server?.close(resolve));
  };
  return { open, close, url: () => Object.assign(new URL(target.href), { host: `127.0.0.1:${port}` }).href };
}

describe.skipIf('skip' in db)('job store database lost while an export runs', () => {
  const database = db as TestDatabase;
  const schema = `${database.schema}_lost`;
  const appName = `fhir-bridge-jobs-test-${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  afterAll(async () => {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    await database.cleanup();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('stays up, answers 503 with Retry-After while the store is unreachable, reconnects and completes the job', async () => {
    const proxy = relay(new URL(database.url));
    await proxy.open();
    const log = captureLog();
    const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-store-lost-'));
    dirs.push(dataDir);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    // the export itself: tells when it runs, then waits for the test to let it finish
    const executor: JobExecutor = async ({ dir }) => {
      started();
      await gate;
      return { files: { output: [{ type: 'Patient', path: join(dir, 'Patient.ndjson'), count: 3, bytes: 0 }], error: [] } };
    };
    const server = await fakeServer({
      dataDir,
      store: new PostgresJobStore({
        connectionString: proxy.url(),
        schema,
        applicationName: appName,
        idleTimeoutMillis: 0,
        log: log.logger,
      }),
      executor,
      logger: log.logger,
      retryAfterSeconds: 7,
      storeRetry: { retries: 50, minTimeout: 20, maxTimeout: 200 },
    });
    try {
      const headers = { accept: 'application/fhir+json', prefer: 'respond-async' };
      const kick = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers });
      expect(kick.statusCode).toBe(202);
      const statusPath = new URL(String(kick.headers['content-location'])).pathname;
      await running;

      // 1. kill the store's connections from a second connection, filtering on its application_name
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
      await admin.end();
      expect(killed.rowCount).toBeGreaterThan(0);
      await log.waitFor((l) => l.msg === 'job store: a PostgreSQL connection was lost; reconnecting on next use');

      // 2. the database is unreachable: the server answers, with 503 where the store is needed
      await proxy.close();
      const meta = await server.app.inject({ method: 'GET', url: '/fhir/metadata' });
      expect(meta.statusCode).toBe(200);
      const status = await server.app.inject({ method: 'GET', url: statusPath });
      expect(status.statusCode).toBe(503);
      expect(status.headers['retry-after']).toBe('7');
      expect(status.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] });
      const kick2 = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers });
      expect(kick2.statusCode).toBe(503);
      expect(kick2.headers['retry-after']).toBe('7');

      // 3. the export finishes while the store is away: the runner retries recording it...
      release();
      await log.waitFor((l) => l.msg === 'export job: the job store failed to record the completion; retrying');
      // 4. ...and the store comes back: it reconnects, the job is completed
      await proxy.open();
      await server.runner.idle();
      const done = await server.app.inject({ method: 'GET', url: statusPath });
      expect(done.statusCode).toBe(200);
      expect(done.json()).toMatchObject({ output: [{ type: 'Patient' }] });
      expect(log.lines.some((l) => l.msg === 'export job completed')).toBe(true);
    } finally {
      release();
      await server.close();
      await proxy.close();
    }
  });
});

if ('skip' in db) it.skip(`job store database lost: ${(db as { skip: string }).skip}`, () => undefined);
