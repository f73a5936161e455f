// Issue 11, job ownership in the runner: two in-process servers (each its own JobRunner and its own
// connection to one SQLite job store, one data dir), as two instances on one machine.
//   - a cancel through B of a job running on A reaches A through its heartbeat: A stops it and deletes the
//     files; only then may anyone's sweep expire it;
//   - A loses the store: it stops its job itself before its lease runs out, B takes the job over once the
//     lease expired and completes it, and A (store back) writes nothing for it: B's result stands.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { JobStoreUnavailableError, type JobStore } from '../../src/jobs/job-store.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { captureLog } from '../support/log-capture.js';
import { fakeServer } from '../support/test-server.js';

type Server = Awaited<ReturnType<typeof fakeServer>>;
const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const headers = { accept: 'application/fhir+json', prefer: 'respond-async' };
const leases = { leaseMs: 1000, heartbeatMs: 100 };

/** A store that can lose its database: while `down`, every call fails as an unreachable store does. */
function losable(inner: JobStore): JobStore & { down: boolean } {
  const state = { down: false };
  const proxy = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'down') return state.down;
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        state.down && prop !== 'close'
          ? Promise.reject(new JobStoreUnavailableError('test: database unreachable'))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
    set(_target, prop, value) {
      if (prop !== 'down') return false;
      state.down = value as boolean;
      return true;
    },
  });
  return proxy as JobStore & { down: boolean };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pair(aStore?: (file: string) => JobStore) {
  const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-runner-leases-'));
  dirs.push(dataDir);
  const file = join(dataDir, 'jobs.sqlite');
  const logA = captureLog();
  const logB = captureLog();
  const controlA = { calls: 0, gate: new Promise<void>(() => undefined) }; // A's exports never finish by themselves
  const controlB = { calls: 0 };
  const store = aStore?.(file) ?? new SqliteJobStore(file);
  const a = await fakeServer({
    dataDir,
    store,
    control: controlA,
    logger: logA.logger,
    leases,
    storeRetry: { retries: 1000, minTimeout: 20, maxTimeout: 100 },
  });
  servers.push(a);
  const b = await fakeServer({ dataDir, store: new SqliteJobStore(file), control: controlB, logger: logB.logger, leases });
  servers.push(b);
  return { a, b, logA, logB, controlA, controlB, store };
}

it('a cancel through B reaches A: A stops the job and deletes its files; then it expires', async () => {
  const { a, b, logA } = await pair();
  const kick = await a.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient', headers });
  expect(kick.statusCode).toBe(202);
  const path = new URL(String(kick.headers['content-location'])).pathname;
  const id = path.split('/').pop()!;
  await until('the job to run on A', async () => (await b.store.get(id))?.status === 'running' && existsSync(a.runner.jobDir(id)));
  expect((await b.store.get(id))!.owner).toBe(a.runner.instanceId);
  expect((await b.app.inject({ method: 'DELETE', url: path })).statusCode).toBe(202);
  await logA.waitFor((l) => l.job === id && l.msg === 'export job stopped: cancelled');
  expect(existsSync(a.runner.jobDir(id))).toBe(false);
  expect((await b.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
  expect((await a.app.inject({ method: 'GET', url: path })).statusCode).toBe(404);
  expect(await b.runner.sweep()).toEqual([id]); // A released it: anyone's sweep may expire it now
});

it('A loses the store: it stops its job before the lease runs out, B takes it over and completes it, A writes nothing', async () => {
  const { a, b, logA, logB, controlA, controlB, store } = await pair((file) => losable(new SqliteJobStore(file)));
  const lossy = store as JobStore & { down: boolean };
  const kick = await a.app.inject({ method: 'GET', url: '/fhir/$export?_type=Patient,Observation', headers });
  expect(kick.statusCode).toBe(202);
  const path = new URL(String(kick.headers['content-location'])).pathname;
  const id = path.split('/').pop()!;
  await until('the job to run on A', async () => (await b.store.get(id))?.status === 'running');
  const started = Date.now();
  lossy.down = true;
  await logA.waitFor((l) => l.job === id && String(l.msg).startsWith('export job: its lease could not be renewed'));
  // stopped on its own, but not at the first missed renewal: the lease (1 s) was nearly used up
  expect(Date.now() - started).toBeGreaterThanOrEqual(leases.leaseMs - 2 * leases.heartbeatMs);
  await logB.waitFor((l) => l.job === id && l.msg === 'export job completed');
  const done = await b.app.inject({ method: 'GET', url: path });
  expect(done.statusCode).toBe(200);
  expect(await b.store.get(id)).toMatchObject({ status: 'completed', owner: b.runner.instanceId, attempts: 2 });
  expect(controlA.calls).toBe(1);
  expect(controlB.calls).toBe(1);
  // A's store comes back: A has nothing to write for the job, B's result and files stand
  lossy.down = false;
  await logA.waitFor(
    (l) =>
      l.msg === 'job leases renewed again' ||
      l.msg === 'export job stopped here: another instance holds it (or will, once its lease expired)',
  );
  await a.runner.heartbeat();
  expect((await a.app.inject({ method: 'GET', url: path })).json()).toEqual(done.json());
  for (const o of (done.json() as { output: Array<{ url: string }> }).output)
    expect((await a.app.inject({ method: 'GET', url: new URL(o.url).pathname })).statusCode).toBe(200);
  expect(logA.lines.filter((l) => l.job === id).map((l) => l.msg)).not.toContain('export job completed');
});
