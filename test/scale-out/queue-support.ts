// Processes of the built CLI for the queue tests and the scale-out bench: a `serve --queue` (the API) and
// `worker` processes, each a real OS process so that one can be SIGKILLed; and an export through the API,
// read back as per-type counts, ids and an order-independent digest of the lines.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const CLI = resolve(fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url)));
export const cliBuilt = (): boolean => existsSync(CLI);

export interface CliProcess {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  /** resolves with the first match of `pattern` in stderr */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
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

export interface ExportedType {
  count: number;
  ids: string[];
  /** sum of the lines' hashes: equal for the same lines in any order */
  digest: bigint;
}

/** Per resourceType (and OperationOutcome for the error files) of a folder of NDJSON files. */
export async function readExport(dir: string, files?: string[]): Promise<Map<string, ExportedType>> {
  const names = files ?? (await readdir(dir)).filter((n) => /\.ndjson(\.gz)?$/.test(n));
  const out = new Map<string, ExportedType>();
  for (const name of names.sort()) {
    const path = join(dir, name);
    const input = name.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (!line) continue;
      const r = JSON.parse(line) as { resourceType: string; id?: string };
      const t = out.get(r.resourceType) ?? { count: 0, ids: [], digest: 0n };
      t.count++;
      if (r.id) t.ids.push(r.id);
      t.digest = (t.digest + BigInt(`0x${createHash('sha1').update(line).digest('hex').slice(0, 16)}`)) % 2n ** 64n;
      out.set(r.resourceType, t);
    }
  }
  return out;
}

/** Kicks off a system export on an open-mode server and waits for its manifest. */
export async function exportThroughApi(base: string, timeoutMs = 600_000): Promise<{ jobId: string; manifest: Manifest; seconds: number }> {
  const started = performance.now();
  const kick = await fetch(`${base}/fhir/$export`, { headers: { Accept: 'application/fhir+json', Prefer: 'respond-async' } });
  if (kick.status !== 202) throw new Error(`kick-off: ${kick.status} ${await kick.text()}`);
  const status = kick.headers.get('content-location')!;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(status, { headers: { Accept: 'application/json' } });
    if (res.status === 200) {
      return { jobId: status.split('/').at(-1)!, manifest: (await res.json()) as Manifest, seconds: (performance.now() - started) / 1000 };
    }
    if (res.status !== 202) throw new Error(`status: ${res.status} ${await res.text()}`);
    if (Date.now() > until) throw new Error('export did not finish in time');
    await sleep(500);
  }
}

export interface Manifest {
  output: Array<{ type: string; url: string; count?: number }>;
  error: Array<{ type: string; url: string; count?: number }>;
}

export async function readJsonFile<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}
