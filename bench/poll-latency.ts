// Measures how fast status polls are answered while an export runs (the issue's "status polls still
// answer quickly" check). Kick off an export on a running server, poll its status URL every `intervalMs`
// until it completes, and report latency percentiles. Run the server in another process, with
// `--min-poll-interval 0` so no poll is throttled:
//
//   fhir-bridge serve --open --connector big.yaml --min-poll-interval 0 &
//   npm run poll-latency -- http://localhost:8080/fhir [--path /$export] [--interval 50] [--token T]
import { invokedDirectly } from '../src/cli/invoked-directly.js';

export interface PollLatencyOptions {
  /** FHIR base URL, e.g. http://localhost:8080/fhir */
  fhirBase: string;
  /** kick-off path below the FHIR base (default /$export) */
  path?: string;
  /** pause between polls (default 50 ms) */
  intervalMs?: number;
  token?: string;
  /** give up after this long (default 30 minutes) */
  timeoutMs?: number;
}

export interface PollLatencyResult {
  polls: number;
  /** polls answered 429 (throttled): the server should run with --min-poll-interval 0 */
  throttled: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** kick-off to manifest */
  exportMs: number;
  /** resources in the manifest */
  resources: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export async function measurePollLatency(options: PollLatencyOptions): Promise<PollLatencyResult> {
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const started = performance.now();
  const kick = await fetch(`${options.fhirBase.replace(/\/+$/, '')}${options.path ?? '/$export'}`, {
    headers: { accept: 'application/fhir+json', prefer: 'respond-async', ...auth },
  });
  if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
  const statusUrl = kick.headers.get('content-location')!;
  const latencies: number[] = [];
  let throttled = 0;
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  for (;;) {
    const t0 = performance.now();
    const res = await fetch(statusUrl, { headers: { accept: 'application/json', ...auth } });
    const body = await res.text();
    latencies.push(performance.now() - t0);
    if (res.status === 200) {
      const manifest = JSON.parse(body) as { output: Array<{ count?: number }> };
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        polls: latencies.length,
        throttled,
        p50Ms: round(percentile(sorted, 50)),
        p95Ms: round(percentile(sorted, 95)),
        p99Ms: round(percentile(sorted, 99)),
        maxMs: round(sorted[sorted.length - 1]!),
        exportMs: Math.round(performance.now() - started),
        resources: manifest.output.reduce((n, f) => n + (f.count ?? 0), 0),
      };
    }
    if (res.status === 429) throttled++;
    else if (res.status !== 202) throw new Error(`status answered ${res.status}: ${body}`);
    if (Date.now() > deadline) throw new Error('the export did not finish in time');
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (invokedDirectly(import.meta.url)) {
  const argv = process.argv.slice(2);
  const fhirBase = argv[0];
  if (!fhirBase || fhirBase.startsWith('--')) {
    process.stderr.write('usage: poll-latency <fhir base URL> [--path /$export] [--interval 50] [--token T]\n');
    process.exit(2);
  }
  const interval = arg(argv, '--interval');
  const path = arg(argv, '--path');
  const token = arg(argv, '--token');
  measurePollLatency({
    fhirBase,
    ...(path ? { path } : {}),
    ...(interval ? { intervalMs: Number(interval) } : {}),
    ...(token ? { token } : {}),
  })
    .then((r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'))
    .catch((e: unknown) => {
      process.stderr.write(`poll-latency: ${(e as Error).message}\n`);
      process.exitCode = 1;
    });
}
