// Through the server: `fhir-bridge serve` (dist/, its warm pool) in a child process; kick-off → complete
// manifest for a tiny export (one type, the 11 patients of the embedded sample) and for a whole export, and
// the server's peak RSS (VmHWM) afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './sources.js';

export interface ServerTiming {
  /** kick-off → manifest, each try (ms) */
  tries: number[];
  resources: number;
  peakRss: number;
}

export async function serverExports(
  connectorFile: string | undefined,
  path: string,
  tries: number,
  extraArgs: string[] = [],
): Promise<ServerTiming> {
  const data = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-serve-'));
  const args = [join(ROOT, 'dist/cli/main.js'), 'serve', '--open', '--port', '0', '--data-dir', data, '--min-poll-interval', '0'];
  if (connectorFile) args.push('--connector', connectorFile);
  args.push(...extraArgs);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const base = await listening(child);
    const times: number[] = [];
    let resources = 0;
    for (let i = 0; i < tries; i++) {
      const t0 = performance.now();
      const kick = await fetch(`${base}/fhir${path}`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async' } });
      if (kick.status !== 202) throw new Error(`kick-off ${path}: ${kick.status} ${await kick.text()}`);
      const status = kick.headers.get('content-location')!;
      for (;;) {
        const r = await fetch(status, { headers: { accept: 'application/json' } });
        if (r.status === 200) {
          const manifest = (await r.json()) as { output: Array<{ count?: number }> };
          resources = manifest.output.reduce((n, f) => n + (f.count ?? 0), 0);
          break;
        }
        if (r.status !== 202) throw new Error(`status ${path}: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
        await new Promise((res) => setTimeout(res, 2));
      }
      times.push(performance.now() - t0);
    }
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { tries: times, resources, peakRss: hwm ? Number(hwm[1]) * 1024 : Number.NaN };
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
    await rm(data, { recursive: true, force: true });
  }
}

/** `fhir-bridge export` (dist/, defaults: validation on, the cores as workers) in a child process: wall time and peak RSS. */
export async function cliExport(connectorFile: string, extraArgs: string[] = []): Promise<{ wallMs: number; peakRss: number }> {
  const out = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-cli-'));
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/cli/main.js'), 'export', '--connector', connectorFile, '--out', out, ...extraArgs],
    {
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  );
  // VmHWM is the process's peak so far; the last reading before it exits is its peak (to within the interval)
  let peak = 0;
  const sample = async (): Promise<void> => {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
  };
  const timer = setInterval(() => void sample(), 25);
  try {
    const code = await new Promise<number | null>((res) => child.once('exit', res));
    if (code !== 0) throw new Error(`fhir-bridge export exited with ${String(code)}`);
    return { wallMs: performance.now() - t0, peakRss: peak || Number.NaN };
  } finally {
    clearInterval(timer);
    await rm(out, { recursive: true, force: true });
  }
}

function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString();
      const m = /listening on\s+(http:\/\/\S+)/.exec(text);
      if (m) {
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolvePromise(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`fhir-bridge serve exited (${String(code)}) before listening: ${text}`)));
  });
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
