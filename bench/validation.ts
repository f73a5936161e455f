// `npm run bench:validation`: profile validation throughput (resources/s, wall and CPU time of this
// process) on an export of the embedded sample, per resourceType and overall, plus the one-off costs
// (loading the definitions, compiling the profiles on first use). Runs against dist/ like the other tools.
import { spawn } from 'node:child_process';
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from '../src/cli/format.js';
import { openSource } from '../src/pipeline/open-source.js';
import { runExport } from '../src/pipeline/run-export.js';
import { sharedValidator } from '../src/pipeline/validate-resource.js';
import { createNdjsonSink } from '../src/sinks/ndjson-sink.js';
import { createValidator, type ProfileValidator } from '../src/validation/index.js';
import { keptPostgresSource, sqliteSource } from './sources.js';

export interface ValidationBench {
  resourceType: string;
  resources: number;
  issues: number;
  /** resources per second of wall time, and of this process's CPU time (fair on a loaded machine) */
  perSecondWall: number;
  perSecondCpu: number;
}

/** Validates `resources` `rounds` times (after one warm-up pass that compiles the profiles), per type. */
export function benchValidation(validator: ProfileValidator, resources: Array<{ resourceType: string }>, rounds = 5): ValidationBench[] {
  const byType = new Map<string, Array<{ resourceType: string }>>();
  for (const r of resources) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
  const measure = (name: string, list: Array<{ resourceType: string }>): ValidationBench => {
    let issues = 0;
    for (const r of list) issues += validator.validate(r).length;
    const wall0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < rounds; i++) for (const r of list) validator.validate(r);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const n = list.length * rounds;
    return {
      resourceType: name,
      resources: list.length,
      issues,
      perSecondWall: Math.round(n / (wallMs / 1000)),
      perSecondCpu: Math.round(n / (Math.max(cpuMs, 0.001) / 1000)),
    };
  };
  const rows = [...byType].sort(([a], [b]) => a.localeCompare(b)).map(([type, list]) => measure(type, list));
  rows.push(measure('all', resources));
  return rows;
}

export interface ExportThroughput {
  validate: boolean;
  rows: number;
  resources: number;
  /** resources rejected by validation (not written) */
  rejected: number;
  /** the export, from its first query to its last byte (loading the validator's definitions excluded:
   *  a process pays that once, the server at start-up) */
  wallMs: number;
  /** user + system CPU of the process over the same span */
  cpuMs: number;
  /** time spent inside the validator during the export, and the resources it checked */
  validateMs: number;
  validated: number;
}

/**
 * Child mode (`validation.js --export <connector> on|off`): one export of the connector on this thread, as
 * `fhir-bridge export` runs a source with a snapshot, with or without profile validation.
 */
export async function measureExport(connectorFile: string, validate: boolean): Promise<ExportThroughput> {
  const out = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-valexport-'));
  const source = await openSource(connectorFile);
  try {
    let validateMs = 0;
    let validated = 0;
    let validator: ProfileValidator | undefined;
    if (validate) {
      const shared = await sharedValidator();
      // the same validator, timed: what validation alone costs inside the export
      validator = Object.create(shared, {
        validate: {
          value: (...args: Parameters<ProfileValidator['validate']>) => {
            const t0 = performance.now();
            try {
              return shared.validate(...args);
            } finally {
              validateMs += performance.now() - t0;
              validated++;
            }
          },
        },
      }) as ProfileValidator;
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const summary = await runExport({
      adapter: source.adapter,
      mappings: source.mappings,
      sink: createNdjsonSink({ dir: out }),
      ...(validator ? { validator } : {}),
    });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      validate,
      rows: Object.values(summary.rowsRead).reduce((a, b) => a + b, 0),
      resources: Object.values(summary.counts).reduce((a, b) => a + b, 0),
      rejected: summary.validation?.rejected ?? 0,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      validateMs,
      validated,
    };
  } finally {
    await source.close();
    await rm(out, { recursive: true, force: true });
  }
}

function exportChild(connectorFile: string, validate: boolean): Promise<ExportThroughput> {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), '--export', connectorFile, validate ? 'on' : 'off'];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`validation benchmark child exited with code ${String(code)}`));
      try {
        resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as ExportThroughput);
      } catch {
        reject(new Error(`validation benchmark child printed no result: ${stdout}`));
      }
    });
  });
}

/** One export on the warm pool (run.ts measures it in a child process of its own, as its floors). */
export interface PooledMeasure {
  workers: number;
  resources: number;
  wallMs: number;
  cpuMs: number;
}
export type PooledExport = (connectorFile: string, validate: boolean) => Promise<PooledMeasure>;

/**
 * `npm run bench`'s validation section: the same export with and without validation, each in a process of
 * its own, alternated `tries` times (the best of each kept: on a shared machine the best is the least
 * disturbed), as a table with validation alone (resources/s inside the validator) and the ratio.
 */
export async function exportValidationSection(connectorFile: string, label: string, tries = 2, pooled?: PooledExport): Promise<string> {
  const best: Partial<Record<'on' | 'off', ExportThroughput>> = {};
  for (let i = 0; i < tries; i++) {
    for (const validate of [false, true]) {
      process.stderr.write(`validation, ${label}: export ${validate ? 'with' : 'without'} validation (${i + 1}/${tries})…\n`);
      const r = await exportChild(connectorFile, validate);
      const k = validate ? 'on' : 'off';
      if (!best[k] || r.wallMs < best[k].wallMs) best[k] = r;
    }
  }
  const on = best.on!;
  const off = best.off!;
  // the export as `fhir-bridge export --workers <BENCH_WORKERS>` runs it: this thread and the warm pool
  const pool: Partial<Record<'on' | 'off', PooledMeasure>> = {};
  if (pooled) {
    for (let i = 0; i < tries; i++) {
      for (const validate of [false, true]) {
        process.stderr.write(`validation, ${label}: pooled export ${validate ? 'with' : 'without'} validation (${i + 1}/${tries})…\n`);
        const r = await pooled(connectorFile, validate);
        const k = validate ? 'on' : 'off';
        if (!pool[k] || r.wallMs < pool[k].wallMs) pool[k] = r;
      }
    }
  }
  const perSecond = (n: number, ms: number): number => Math.round(n / (ms / 1000));
  const pooledRow = (name: string, r: PooledMeasure): Array<string | number> => [
    name,
    r.resources,
    `${(r.wallMs / 1000).toFixed(2)} s`,
    perSecond(r.resources, r.wallMs),
    perSecond(r.resources, r.cpuMs),
  ];
  const row = (name: string, r: ExportThroughput): Array<string | number> => [
    name,
    r.resources,
    `${(r.wallMs / 1000).toFixed(2)} s`,
    perSecond(r.resources + r.rejected, r.wallMs),
    perSecond(r.resources + r.rejected, r.cpuMs),
  ];
  return (
    `\nValidation, ${label} (one thread; best of ${tries}; resources/s count the rejected resources too)\n` +
    table(
      ['export', 'resources written', 'time', 'resources/s', 'resources/s (CPU)'],
      [
        row('without validation', off),
        row('with validation', on),
        ...(pool.on && pool.off
          ? [
              pooledRow(`without validation, ${pool.off.workers} threads`, pool.off),
              pooledRow(`with validation, ${pool.on.workers} threads`, pool.on),
            ]
          : []),
      ],
      [false, true, true, true, true],
    ) +
    '\n\n' +
    table(
      ['validation', 'value'],
      [
        ['validation alone, inside the export (resources/s)', perSecond(on.validated, on.validateMs)],
        ['share of the export spent validating', `${Math.round((100 * on.validateMs) / on.wallMs)} %`],
        ['resources rejected by validation', on.rejected],
        [
          'export with / without validation (resources/s), one thread',
          (perSecond(on.resources + on.rejected, on.wallMs) / perSecond(off.resources, off.wallMs)).toFixed(2),
        ],
        [
          'export with / without validation (resources per CPU second), one thread',
          (perSecond(on.resources + on.rejected, on.cpuMs) / perSecond(off.resources, off.cpuMs)).toFixed(2),
        ],
        ...(pool.on && pool.off
          ? [
              [
                `export with / without validation (resources/s), ${pool.on.workers} threads`,
                (perSecond(pool.on.resources, pool.on.wallMs) / perSecond(pool.off.resources, pool.off.wallMs)).toFixed(2),
              ],
            ]
          : []),
      ],
      [false, true],
    ) +
    '\n'
  );
}

/**
 * The hook `npm run bench` calls: the with/without-validation section on the sample ×`copies`, from the
 * kept PostgreSQL database when `pg` is set (the one the floors use), else from a scratch SQLite file.
 */
export async function validationBench(pg: string | undefined, copies: number, pooled?: PooledExport): Promise<string> {
  process.stderr.write(`validation: preparing the sample ×${copies}…\n`);
  const source = pg ? await keptPostgresSource(pg, copies) : await sqliteSource(copies);
  try {
    return await exportValidationSection(source.connectorFile, source.label, Number(process.env.BENCH_VALIDATION_TRIES ?? 2), pooled);
  } finally {
    await source.dispose();
  }
}

async function exportSample(): Promise<{ dir: string; resources: Array<{ resourceType: string }> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-validation-'));
  const source = await openSource();
  try {
    await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir }) });
  } finally {
    await source.close();
  }
  const resources: Array<{ resourceType: string }> = [];
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort()) {
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) if (line) resources.push(JSON.parse(line));
  }
  return { dir, resources };
}

async function main(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  process.stderr.write('exporting the embedded sample…\n');
  const { dir, resources } = await exportSample();
  try {
    const t0 = performance.now();
    const validator = await createValidator();
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    for (const r of resources) validator.validate(r);
    const firstMs = performance.now() - t1;
    const rows = benchValidation(validator, resources, rounds);
    process.stdout.write(
      `${table(
        ['resourceType', 'resources', 'issues', 'resources/s (wall)', 'resources/s (CPU)'],
        rows.map((r) => [r.resourceType, r.resources, r.issues, r.perSecondWall, r.perSecondCpu]),
        [false, true, true, true, true],
      )}\n\nloading the definitions: ${Math.round(loadMs)} ms; first pass (compiles the profiles): ${Math.round(firstMs)} ms; ` +
        `${rounds} timed rounds after it\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const exportAt = process.argv.indexOf('--export');
if (process.argv[1]?.endsWith('validation.js') && exportAt >= 0) {
  measureExport(process.argv[exportAt + 1]!, process.argv[exportAt + 2] === 'on')
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
} else if (process.argv[1]?.endsWith('validation.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
