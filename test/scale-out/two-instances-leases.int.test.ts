// Issue 11, done-when: two API instances (`fhir-bridge serve` child processes from the built CLI) on one
// PostgreSQL job store and one data dir, with no load balancer: requests alternate between them.
//   1. kick-off on A, poll and download on B: the manifest and every file are those A serves;
//   2. B restarted (SIGTERM, then SIGKILL) while A's job runs: B leaves it alone (same transactionTime,
//      attempts unchanged, completed once, by A);
//   3. A killed (SIGKILL) mid-job: once its lease expired, B takes the job over and completes it.
// A job is kept running as long as the test needs: each instance reads the source (the Synthea sample in a
// private PostgreSQL schema) through a TCP relay of its own, and A's relay holds back the database's
// answers until the test lets them through.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSample } from '../../src/sample/load-sample.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const LEASE_MS = 3000;
const HEARTBEAT_MS = 500;
const headers = { accept: 'application/fhir+json', prefer: 'respond-async' };

/** A relay to the database whose answers can be held back (the source "hangs") and let through again. */
async function holdableRelay(target: URL) {
  const sockets = new Set<net.Socket>();
  let held = false;
  const waiting: Array<() => void> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client).add(upstream);
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => void upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (held) waiting.push(() => void client.write(chunk));
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const send of waiting.splice(0)) send();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Instance {
  name: string;
  child: ChildProcess;
  base: string;
  id: string;
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

async function serve(name: string, args: string[]): Promise<Instance> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let text = '';
  const ready = new Promise<{ base: string; id: string }>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      text += d;
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('{')) {
          try {
            logs.push(JSON.parse(line) as Record<string, unknown>);
          } catch {}
        }
        const listening = /listening on\s+(http:\/\/\S+)/.exec(line);
        if (listening) (child as ChildProcess & { base?: string }).base = listening[1]!;
        const instance = /^\s+instance\s+(\S+)/.exec(line);
        if (instance) resolve({ base: (child as ChildProcess & { base?: string }).base!, id: instance[1]! });
      }
    });
    void exited.then((code) => reject(new Error(`${name} exited (${String(code)}) before listening: ${text}`)));
  });
  const { base, id } = await ready;
  return { name, child, base, id, logs, exited };
}

async function stop(instance: Instance, signal: NodeJS.Signals): Promise<void> {
  if (instance.child.exitCode !== null || instance.child.signalCode !== null) return;
  instance.child.kill(signal);
  await instance.exited;
}

/** Polls until `check` holds (generous: a loaded machine), every 100 ms. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const hasCli = existsSync(CLI);
const db = hasCli ? await testDatabase('postgres', 'fbt_lease') : { skip: 'dist/cli/main.js missing: run npm run build first' };

describe.skipIf('skip' in db)('two serve instances on one PostgreSQL job store and one data dir', () => {
  const database = db as TestDatabase;
  const jobsDbName = `${database.schema}_jobs`;
  let jobsUrl = '';
  let dataDir = '';
  let relays: { a: Awaited<ReturnType<typeof holdableRelay>>; b: Awaited<ReturnType<typeof holdableRelay>> };
  let connectors: { a: string; b: string };
  const instances: Instance[] = [];
  let jobs: pg.Pool;

  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: process.env.TEST_POSTGRES_URL ?? database.url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    await loadSample(database.config({ mappings: [join(ROOT, 'mappings', 'synthea')], sample: 'synthea', timezone: 'UTC' }));
    // a private database for the job store (the store's schema name is fixed: fhir_bridge)
    await admin(`CREATE DATABASE ${jobsDbName}`);
    const u = new URL(process.env.TEST_POSTGRES_URL ?? database.url);
    u.pathname = `/${jobsDbName}`;
    u.search = '';
    jobsUrl = u.toString();
    jobs = new pg.Pool({ connectionString: jobsUrl, max: 2 });
    dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-two-instances-'));
    const target = new URL(database.url);
    relays = { a: await holdableRelay(target), b: await holdableRelay(target) };
    const connector = async (name: string, port: number): Promise<string> => {
      const via = new URL(database.url);
      via.host = `127.0.0.1:${port}`;
      const file = join(dataDir, `${name}.yaml`);
      await writeFile(
        file,
        [
          `name: synthea-${name}`,
          'kind: postgres',
          `connection: ${JSON.stringify(via.toString())}`,
          `options: { schema: ${database.schema} }`,
          'timezone: UTC',
          `mappings: [${JSON.stringify(join(ROOT, 'mappings', 'synthea'))}]`,
        ].join('\n'),
      );
      return file;
    };
    connectors = { a: await connector('a', relays.a.port), b: await connector('b', relays.b.port) };
  }, 300_000);

  afterAll(async () => {
    relays?.a.release();
    for (const i of instances) await stop(i, 'SIGKILL');
    await jobs?.end();
    await relays?.a.close();
    await relays?.b.close();
    await admin(`DROP DATABASE IF EXISTS ${jobsDbName} WITH (FORCE)`).catch(() => undefined);
    await database.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const start = async (name: 'a' | 'b'): Promise<Instance> => {
    const args = ['--open', '--port', '0', '--data-dir', dataDir, '--jobs-db', jobsUrl, '--connector', connectors[name]];
    args.push(
      '--in-process',
      '--no-validate',
      '--min-poll-interval',
      '0',
      // one in seconds, one bare (milliseconds): both forms reach the lease
      '--job-lease',
      `${LEASE_MS / 1000}s`,
      '--heartbeat',
      String(HEARTBEAT_MS),
    );
    const instance = await serve(name.toUpperCase(), args);
    instances.push(instance);
    return instance;
  };
  const row = async (id: string) =>
    (
      await jobs.query<{ status: string; owner: string | null; attempts: number; transaction_time: string }>(
        'SELECT status, owner, attempts, transaction_time FROM fhir_bridge.export_jobs WHERE id = $1',
        [id],
      )
    ).rows[0];
  const kickoff = async (on: Instance): Promise<{ id: string; path: string }> => {
    const res = await fetch(`${on.base}/fhir/$export?_type=Patient,Observation,Condition`, { headers });
    expect(res.status).toBe(202);
    const path = new URL(res.headers.get('content-location')!).pathname;
    return { id: path.split('/').pop()!, path };
  };
  /** polls the status, alternating between the instances given, until it is not 202; returns each one's answer */
  const pollUntilDone = async (path: string, on: Instance[]) => {
    let turn = 0;
    return until(`${path} to finish`, async () => {
      const i = on[turn++ % on.length]!;
      const res = await fetch(`${i.base}${path}`);
      const body = await res.text();
      if (res.status === 202) return undefined;
      expect(res.status, body).toBe(200);
      return JSON.parse(body) as { transactionTime: string; output: Array<{ url: string; type: string; count: number }> };
    });
  };
  const download = async (on: Instance, url: string): Promise<string> => {
    const res = await fetch(`${on.base}${new URL(url).pathname}`);
    expect(res.status, url).toBe(200);
    return res.text();
  };
  const logsOf = (i: Instance, job: string) => i.logs.filter((l) => l.job === job).map((l) => l.msg);

  it('kick-off on A, poll and download on B; restarting B leaves A’s running job alone', async () => {
    const a = await start('a');
    let b = await start('b');
    expect(a.id).not.toBe(b.id);
    relays.a.hold(); // A's source stops answering: its job keeps running until released
    const { id, path } = await kickoff(a);
    const running = await until('the job to run on A', async () => {
      const r = await row(id);
      return r?.status === 'running' ? r : undefined;
    });
    expect(running).toMatchObject({ owner: a.id, attempts: 1 });
    expect((await fetch(`${b.base}${path}`)).status).toBe(202); // B answers for A's job

    // B restarted twice while the job runs: a clean stop, then a kill
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      await stop(b, signal);
      b = await start('b');
      // B's start-up takeover ran before it listened; give it a lease and some heartbeats more
      await new Promise((r) => setTimeout(r, LEASE_MS + 2 * HEARTBEAT_MS));
      expect(await row(id), `after B's ${signal} restart`).toMatchObject({
        status: 'running',
        owner: a.id,
        attempts: 1,
        transaction_time: running.transaction_time,
      });
      expect(logsOf(b, id)).toEqual([]);
    }

    relays.a.release();
    const manifest = await pollUntilDone(path, [b, a]);
    expect(await row(id)).toMatchObject({ status: 'completed', owner: a.id, attempts: 1, transaction_time: running.transaction_time });
    expect(logsOf(a, id).filter((m) => m === 'export job completed')).toHaveLength(1);
    expect(logsOf(a, id).filter((m) => m === 'export job running')).toHaveLength(1);
    expect(logsOf(b, id)).toEqual([]);
    // the same manifest from both; every file through B is the file A serves
    expect(await (await fetch(`${a.base}${path}`)).json()).toEqual(await (await fetch(`${b.base}${path}`)).json());
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Condition', 'Observation', 'Patient']);
    expect(manifest.output.find((o) => o.type === 'Patient')!.count).toBe(11);
    for (const o of manifest.output) {
      const viaB = await download(b, o.url);
      expect(viaB.trim().split('\n')).toHaveLength(o.count);
      expect(viaB).toBe(await download(a, o.url));
    }
    await stop(a, 'SIGTERM');
    await stop(b, 'SIGTERM');
  }, 300_000);

  it('A killed mid-job: once its lease expired, B takes the job over and completes it', async () => {
    const a = await start('a');
    const b = await start('b');
    relays.a.hold();
    const { id, path } = await kickoff(a);
    await until('the job to run on A', async () => ((await row(id))?.status === 'running' ? true : undefined));
    await stop(a, 'SIGKILL');
    relays.a.release();
    const manifest = await pollUntilDone(path, [b]);
    expect(await row(id)).toMatchObject({ status: 'completed', owner: b.id, attempts: 2 });
    expect(logsOf(b, id)).toEqual([
      'export job was interrupted by a restart; running it again',
      'export job queued',
      'export job running',
      'export job completed',
    ]);
    expect(b.logs.find((l) => l.job === id && l.previousOwner)).toMatchObject({ previousOwner: a.id });
    for (const o of manifest.output) expect((await download(b, o.url)).trim().split('\n')).toHaveLength(o.count);
    await stop(b, 'SIGTERM');
  }, 300_000);
});

if ('skip' in db) it.skip(`two serve instances: ${(db as { skip: string }).skip}`, () => undefined);
