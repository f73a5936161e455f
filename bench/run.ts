// `npm run bench`: export throughput (rows/s, resources/s) and peak memory per source, without and with
// profile validation (as `fhir-bridge export` runs by default), and the validator's own throughput. Each
// export runs in a child process of its own, so its peak RSS (resourceUsage().maxRSS) is its own and not the
// loader's. Building the validator (package loading, seconds) is done before the clock starts, as a server
// does it once at start-up.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from '../src/cli/format.js';
import { openSource } from '../src/pipeline/open-source.js';
import { runExport } from '../src/pipeline/run-export.js';
import { sharedValidator } from '../src/pipeline/validate-resource.js';
import { createNdjsonSink } from '../src/sinks/ndjson-sink.js';
import { csvSource, mariadbSource, mariadbUrl, postgresSource, postgresUrl, sqliteSource, type BenchSource } from './sources.js';

export interface BenchResult {
  rows: number;
  resources: number;
  issues: number;
  durationMs: number;
  /** peak resident set size of the exporting process, bytes */
  peakRss: number;
  /** with validation: resources validated and the time spent in the validator alone */
  validated?: number;
  validateMs?: number;
}

/** Child mode: export one connector to a scratch folder and print the measurements as JSON. */
async function measure(connectorFile: string, validate: boolean): Promise<BenchResult> {
  let validateMs = 0;
  let validated = 0;
  const validator = validate ? await sharedValidator() : undefined;
  if (validator) {
    const inner = validator.validate.bind(validator);
    validator.validate = (...args) => {
      const t = performance.now();
      try {
        return inner(...args);
      } finally {
        validateMs += performance.now() - t;
        validated++;
      }
    };
  }
  const out = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-out-'));
  let sampled = process.memoryUsage().rss;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 20);
  const source = await openSource(connectorFile);
  try {
    const summary = await runExport({
      adapter: source.adapter,
      mappings: source.mappings,
      sink: createNdjsonSink({ dir: out }),
      ...(validator ? { validator } : {}),
    });
    return {
      rows: Object.values(summary.rowsRead).reduce((a, b) => a + b, 0),
      resources: Object.values(summary.counts).reduce((a, b) => a + b, 0),
      issues: summary.rejected.total,
      durationMs: summary.durationMs,
      peakRss: Math.max(sampled, process.resourceUsage().maxRSS * 1024),
      ...(validator ? { validated, validateMs } : {}),
    };
  } finally {
    clearInterval(timer);
    await source.close();
    await rm(out, { recursive: true, force: true });
  }
}

function runChild(connectorFile: string, validate: boolean): Promise<BenchResult> {
  return new Promise((resolvePromise, reject) => {
    const args = [...process.execArgv, fileURLToPath(import.meta.url), '--measure', connectorFile, ...(validate ? ['--validate'] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`benchmark child exited with code ${String(code)}`));
      try {
        resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as BenchResult);
      } catch {
        reject(new Error(`benchmark child printed no result: ${stdout}`));
      }
    });
  });
}

interface Case {
  name: string;
  make: () => Promise<BenchSource>;
  skip?: string;
}

async function main(): Promise<void> {
  const pg = postgresUrl();
  const maria = mariadbUrl();
  const copies = Number(process.env.BENCH_COPIES ?? 20);
  const cases: Case[] = [
    { name: 'SQLite', make: () => sqliteSource() },
    { name: 'CSV', make: () => csvSource() },
    { name: 'PostgreSQL', make: () => postgresSource(pg!), ...(pg ? {} : { skip: 'set TEST_POSTGRES_URL or FHIR_BRIDGE_POSTGRES_URL' }) },
    { name: 'MariaDB', make: () => mariadbSource(maria!), ...(maria ? {} : { skip: 'set TEST_MARIADB_URL or FHIR_BRIDGE_MARIADB_URL' }) },
    { name: `SQLite ×${copies}`, make: () => sqliteSource(copies) },
    {
      name: `PostgreSQL ×${copies}`,
      make: () => postgresSource(pg!, copies),
      ...(pg ? {} : { skip: 'set TEST_POSTGRES_URL or FHIR_BRIDGE_POSTGRES_URL' }),
    },
  ];
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const rows: Array<Array<string | number>> = [];
  for (const c of cases) {
    if (only.length > 0 && !only.some((o) => c.name.toLowerCase().startsWith(o.toLowerCase()))) continue;
    if (c.skip) {
      rows.push([c.name, '-', '-', '-', '-', '-', '-', '-', `skipped: ${c.skip}`]);
      continue;
    }
    process.stderr.write(`${c.name}: preparing…\n`);
    let source: BenchSource | undefined;
    try {
      source = await c.make();
      process.stderr.write(`${c.name}: exporting…\n`);
      const plain = await runChild(source.connectorFile, false);
      process.stderr.write(`${c.name}: exporting with validation…\n`);
      const checked = await runChild(source.connectorFile, true);
      // resources read (written + rejected by validation) per second, so that both runs count the same work
      const throughput = (r: BenchResult): number => (r.validated ?? r.resources) / (r.durationMs / 1000);
      for (const [name, r] of [
        [c.name, plain],
        [`${c.name} + validation`, checked],
      ] as const) {
        const seconds = r.durationMs / 1000;
        rows.push([
          name,
          r.rows,
          r.resources,
          `${seconds.toFixed(2)} s`,
          Math.round(r.rows / seconds),
          Math.round(throughput(r)),
          r.validateMs ? Math.round(r.validated! / (r.validateMs / 1000)) : '',
          r === checked ? `${(throughput(checked) / throughput(plain)).toFixed(2)}×` : '',
          `${Math.round(r.peakRss / 1024 / 1024)} MiB`,
        ]);
      }
    } catch (err) {
      rows.push([c.name, '-', '-', '-', '-', '-', '-', '-', `failed: ${err instanceof Error ? err.message : String(err)}`]);
    } finally {
      await source?.dispose().catch(() => undefined);
    }
  }
  process.stdout.write(
    table(['source', 'rows', 'resources', 'time', 'rows/s', 'resources/s', 'validator res/s', 'vs. without', 'peak RSS'], rows, [
      false,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]) + '\n',
  );
}

const measureAt = process.argv.indexOf('--measure');
if (measureAt >= 0) {
  measure(process.argv[measureAt + 1]!, process.argv.includes('--validate'))
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
