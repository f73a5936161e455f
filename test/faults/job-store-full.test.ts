// Issue 8 item 2: the job store cannot record a failure because the data dir's disk is full. The SQLite
// store is wrapped so that its writes fail with ENOSPC while `full` is set (the export's own file writes
// fail the same way). Before the fix the runner's queue rejected unhandled and the process died.
// Expected: logged, the server stays up, and the job shows failed once the store can write again; if the
// store stays full past the retries, the job is left as stored and the next start runs it again.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import type { JobStore } from '../../src/jobs/job-store.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import type { JobExecutor } from '../../src/jobs/runner.js';
import { captureLog } from '../support/log-capture.js';
import { fakeServer } from '../support/test-server.js';

const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

/** A SQLite job store on a disk that can fill up: while `full`, every write throws ENOSPC (reads work). */
function fillableStore(file: string): JobStore & { full: boolean } {
  const inner = new SqliteJobStore(file);
  const write =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      if (store.full) throw enospc();
      return f(...a);
    };
  const store: JobStore & { full: boolean } = {
    full: false,
    init: () => inner.init(),
    get: (id) => inner.get(id),
    list: (s) => inner.list(s),
    active: (c) => inner.active(c),
    dueForCleanup: (n) => inner.dueForCleanup(n),
    close: () => inner.close(),
    create: write((j) => inner.create(j)),
    start: write((...a) => inner.start(...a)),
    progress: write((id, t) => inner.progress(id, t)),
    complete: write((...a) => inner.complete(...a)),
    fail: write((...a) => inner.fail(...a)),
    requeue: write((...a) => inner.requeue(...a)),
    cancel: write((id) => inner.cancel(id)),
    expire: write((id) => inner.expire(id)),
    hold: write((...a) => inner.hold(...a)),
    takeOver: write((...a) => inner.takeOver(...a)),
    release: write((...a) => inner.release(...a)),
  };
  return store;
}

const dirs: string[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => void process.off('unhandledRejection', onUnhandled));
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(retries: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-store-full-'));
  dirs.push(dataDir);
  const store = fillableStore(join(dataDir, 'jobs.sqlite'));
  const log = captureLog();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  // the export fills the disk: its own write fails with ENOSPC, and so do the store's from then on
  const executor: JobExecutor = async () => {
    started();
    await gate;
    store.full = true;
    throw enospc();
  };
  const server = await fakeServer({
    dataDir,
    store,
    executor,
    logger: log.logger,
    storeRetry: { retries, minTimeout: 10, maxTimeout: 50 },
    leases: { leaseMs: 400, heartbeatMs: 100 },
  });
  const kick = await server.app.inject({
    method: 'GET',
    url: '/fhir/$export?_type=Patient',
    headers: { accept: 'application/fhir+json', prefer: 'respond-async' },
  });
  expect(kick.statusCode).toBe(202);
  await running;
  return { server, store, log, release, dataDir, statusPath: new URL(String(kick.headers['content-location'])).pathname };
}

it('logs, stays up, and shows the job failed once the store can write again', async () => {
  const { server, store, log, release, statusPath } = await setup(1000);
  try {
    release();
    await log.waitFor((l) => l.msg === 'export job: the job store failed to record the failure; retrying');
    expect(log.lines.find((l) => l.msg === 'export job failed')).toMatchObject({ error: expect.stringContaining('ENOSPC') });
    expect((await server.app.inject({ method: 'GET', url: '/fhir/metadata' })).statusCode).toBe(200);
    store.full = false; // space freed
    await server.runner.idle();
    const status = await server.app.inject({ method: 'GET', url: statusPath });
    expect(status.statusCode).toBe(500);
    expect(status.json().issue[0].diagnostics).toContain('ENOSPC');
    expect(unhandled).toEqual([]);
  } finally {
    release();
    await server.close();
  }
});

it('when the store stays full past the retries: logged, server up, the next start runs the job again', async () => {
  const { server, store, log, release, dataDir, statusPath } = await setup(2);
  try {
    release();
    await server.runner.idle();
    expect(log.lines.map((l) => l.msg)).toContain(
      'export job: the job store stayed unavailable; the job is left as stored until the store answers again',
    );
    expect(unhandled).toEqual([]);
    expect((await server.app.inject({ method: 'GET', url: '/fhir/metadata' })).statusCode).toBe(200);
    expect((await server.app.inject({ method: 'GET', url: statusPath })).statusCode).toBe(202); // still "running" in the store
  } finally {
    await server.close();
  }
  // space freed, server restarted over the same data dir: the interrupted job runs again, once the lease
  // of the first server's run expired, and completes
  store.full = false;
  const log2 = captureLog();
  const again = await fakeServer({
    dataDir,
    store: new SqliteJobStore(join(dataDir, 'jobs.sqlite')),
    logger: log2.logger,
    leases: { leaseMs: 400, heartbeatMs: 100 },
  });
  try {
    await log2.waitFor((l) => l.msg === 'export job was interrupted by a restart; running it again');
    await log2.waitFor((l) => l.msg === 'export job completed');
    expect((await again.app.inject({ method: 'GET', url: statusPath })).statusCode).toBe(200);
  } finally {
    await again.close();
  }
});

// The same with a real full disk: the data dir on a 256 KiB tmpfs (mounting needs root; skipped otherwise),
// filled up while the export runs. SQLite answers SQLITE_FULL, the export's own writes ENOSPC.
const canMount = process.getuid?.() === 0 && process.platform === 'linux';
it.skipIf(!canMount)('a real full data dir (tmpfs): kick-off 503 + Retry-After, the job shows failed once space is freed', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dataDir]);
  const log = captureLog();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const server = await fakeServer({
    dataDir,
    logger: log.logger,
    control: { gate },
    retryAfterSeconds: 9,
    storeRetry: { retries: 1000, minTimeout: 10, maxTimeout: 50 },
  });
  const filler = join(dataDir, 'filler');
  try {
    const headers = { accept: 'application/fhir+json', prefer: 'respond-async' };
    const kick = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers });
    expect(kick.statusCode).toBe(202);
    const statusPath = new URL(String(kick.headers['content-location'])).pathname;
    await log.waitFor((l) => l.msg === 'export job running');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(4096));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    const refused = await server.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('9');
    expect(refused.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
    release();
    await log.waitFor((l) => l.msg === 'export job: the job store failed to record the failure; retrying');
    await rm(filler); // space freed
    await server.runner.idle();
    const status = await server.app.inject({ method: 'GET', url: statusPath });
    expect(status.statusCode).toBe(500);
    expect(status.json().issue[0].diagnostics).toContain('ENOSPC');
    expect(unhandled).toEqual([]);
  } finally {
    release();
    await server.close();
    execFileSync('umount', [dataDir]);
    await rm(dataDir, { recursive: true, force: true });
  }
});
