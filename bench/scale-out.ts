// `npm run bench` (with PostgreSQL): resources/s of a whole export through `serve --queue` run by 1, 2 and 3
// `fhir-bridge worker` processes on the sample ×BENCH_COPIES. Each round starts a fresh API process and its
// workers on a private queue schema, kicks off a system export, and times kick-off → manifest (the
// coordinator's key-range sampling included). Also the process helpers test/scale-out uses.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import knexPkg from 'knex';
import { table } from '../src/cli/format.js';
import { keptPostgresSource, ROOT } from './sources.js';

const knex = knexPkg.default ?? knexPkg;

export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const cliBuilt = (): boolean => existsSync(CLI);

export interface CliProcess {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  /** resolves with the first match of `pattern` in stderr */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL if it has not ended within 20 s */
  stop(): Promise<void>;
}

/** The built CLI as a process of its own; its stderr is kept (a bounded tail) for waitFor and failures. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-200_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 180_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = err.match(pattern);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`process ended (${child.exitCode}) before ${pattern}:\n${err.slice(-3000)}`);
        if (Date.now() > until) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${err.slice(-3000)}`);
        await sleep(100);
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Manifest {
  output: Array<{ type: string; url: string; count?: number }>;
  error: Array<{ type: string; url: string; count?: number }>;
}

/** Kicks off a system export on an open-mode server and waits for its manifest. */
export async function exportThroughApi(base: string, timeoutMs = 900_000): Promise<{ jobId: string; manifest: Manifest; seconds: number }> {
  const started = performance.now();
  const kick = await fetch(`${base}/fhir/$export`, { headers: { Accept: 'application/fhir+json', Prefer: 'respond-async' } });
  if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
  const status = kick.headers.get('content-location')!;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(status, { headers: { Accept: 'application/json' } });
    if (res.status === 200)
      return { jobId: status.split('/').at(-1)!, manifest: (await res.json()) as Manifest, seconds: (performance.now() - started) / 1000 };
    if (res.status !== 202) throw new Error(`status: ${res.status} ${await res.text()}`);
    if (Date.now() > until) throw new Error('export did not finish in time');
    await sleep(250);
  }
}

/** An API process and `workers` worker processes on one queue; returns the API's base URL and a stop for all. */
export async function startQueueCluster(
  connectorFile: string,
  queue: { url: string; schema: string },
  workers: number,
  options: { dataDir: string; serveArgs?: string[] },
): Promise<{ base: string; api: CliProcess; workers: CliProcess[]; stop(): Promise<void> }> {
  const queueArgs = ['--queue', queue.url, '--queue-schema', queue.schema];
  const api = startCli(
    [
      'serve',
      '--open',
      '-c',
      connectorFile,
      '--port',
      '0',
      '--data-dir',
      options.dataDir,
      '--no-validate',
      '--min-poll-interval',
      '0',
      ...queueArgs,
      ...(options.serveArgs ?? []),
    ],
    { LOG_LEVEL: 'warn' },
  );
  const started = Array.from({ length: workers }, (_, i) => startCli(['worker', ...queueArgs, '--id', `w${i + 1}`], { LOG_LEVEL: 'info' }));
  const all = [api, ...started];
  const stop = async (): Promise<void> => {
    await Promise.all(all.map((p) => p.stop()));
  };
  try {
    const base = (await api.waitFor(/listening on\s+(http:\/\/\S+)/))[1]!;
    await Promise.all(started.map((w) => w.waitFor(/taking parts from the queue/)));
    return { base, api, workers: started, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The bench: 1, 2 and 3 worker processes (BENCH_QUEUE_WORKERS, e.g. "1,2,3,4") on the sample ×copies. */
export async function scaleOut(pg: string, copies: number): Promise<void> {
  if (!cliBuilt()) {
    process.stdout.write('scale-out: skipped (no dist/cli/main.js: npm run build)\n');
    return;
  }
  const counts = (process.env.BENCH_QUEUE_WORKERS ?? '1,2,3').split(',').map(Number);
  const source = await keptPostgresSource(pg, copies);
  const schema = `fbq_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = knex({ client: 'pg', connection: pg, pool: { min: 0, max: 1 } });
  const rows: Array<Array<string | number>> = [];
  try {
    let oneWorker: number | undefined;
    for (const n of counts) {
      const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-queue-'));
      process.stderr.write(`scale-out ×${copies}: ${n} worker process(es)…\n`);
      const cluster = await startQueueCluster(source.connectorFile, { url: pg, schema }, n, { dataDir });
      try {
        const { manifest, seconds } = await exportThroughApi(cluster.base);
        const resources = manifest.output.reduce((a, f) => a + (f.count ?? 0), 0);
        const perSecond = resources / seconds;
        oneWorker ??= perSecond;
        rows.push([n, resources, `${seconds.toFixed(2)} s`, Math.round(perSecond), (perSecond / oneWorker).toFixed(2)]);
      } finally {
        await cluster.stop();
        await rm(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await admin.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]).catch(() => undefined);
    await admin.destroy();
    await source.dispose();
  }
  process.stdout.write(
    `\nScale-out: PostgreSQL ×${copies} through serve --queue, kick-off → manifest (no validation)\n` +
      table(['worker processes', 'resources', 'time', 'resources/s', 'vs 1 worker'], rows, [true, true, true, true, true]) +
      '\n',
  );
}
