// `npm run bench:validation`: profile validation throughput (resources/s, wall and CPU time of this
// process) on an export of the embedded sample, per resourceType and overall, plus the one-off costs
// (loading the definitions, compiling the profiles on first use). Runs against dist/ like the other tools.
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from '../src/cli/format.js';
import { openSource } from '../src/pipeline/open-source.js';
import { runExport } from '../src/pipeline/run-export.js';
import { createNdjsonSink } from '../src/sinks/ndjson-sink.js';
import { createValidator, type ProfileValidator } from '../src/validation/index.js';

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

if (process.argv[1]?.endsWith('validation.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
