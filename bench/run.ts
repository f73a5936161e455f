// `npm run bench`: export throughput (rows/s, resources/s) and peak memory per source. Each export runs in
// a child process of its own, so its peak RSS (resourceUsage().maxRSS) is its own and not the loader's.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from '../src/cli/format.js';
import { loadConnectorConfig } from '../src/connectors/index.js';
import { openSource } from '../src/pipeline/open-source.js';
import { defaultWorkers } from '../src/pipeline/worker-pool.js';
import { runExport } from '../src/pipeline/run-export.js';
import { createNdjsonSink } from '../src/sinks/ndjson-sink.js';
import { measureFloor, type FloorMode, type Measure } from './floors.js';
import { machineUse, sampleMachine, type MachineUse } from './machine-cpu.js';
import { scaleOut } from './scale-out.js';
import { cliExport, median, serverExports } from './server-timing.js';
import { validationBench } from './validation.js';
import {
  csvSource,
  keptPostgresSource,
  mariadbSource,
  mariadbUrl,
  postgresSource,
  postgresUrl,
  sqliteSource,
  type BenchSource,
} from './sources.js';

export interface BenchResult {
  rows: number;
  resources: number;
  issues: number;
  durationMs: number;
  /** peak resident set size of the exporting process, bytes */
  peakRss: number;
}

/** Child mode: export one connector to a scratch folder and print the measurements as JSON. */
async function measure(connectorFile: string): Promise<BenchResult> {
  const out = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-out-'));
  let sampled = process.memoryUsage().rss;
  // unref: a failure before the try below must still let the child exit (the parent waits for it)
  const timer = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 20).unref();
  const source = await openSource(connectorFile);
  try {
    const summary = await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir: out }) });
    return {
      rows: Object.values(summary.rowsRead).reduce((a, b) => a + b, 0),
      resources: Object.values(summary.counts).reduce((a, b) => a + b, 0),
      issues: summary.rejected.total,
      durationMs: summary.durationMs,
      peakRss: Math.max(sampled, process.resourceUsage().maxRSS * 1024),
    };
  } finally {
    clearInterval(timer);
    await source.close();
    await rm(out, { recursive: true, force: true });
  }
}

function runChild<T = BenchResult>(connectorFile: string, floor?: FloorMode): Promise<T> {
  const args = floor ? ['--floor', connectorFile, JSON.stringify(floor)] : ['--measure', connectorFile];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`benchmark child exited with code ${String(code)}`));
      try {
        resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as T);
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
    if (only.length === 0 && c.name.includes('×')) continue; // the ×copies cases run when named (floors cover PostgreSQL ×copies)
    if (c.skip) {
      rows.push([c.name, '-', '-', '-', '-', '-', `skipped: ${c.skip}`]);
      continue;
    }
    process.stderr.write(`${c.name}: preparing…\n`);
    let source: BenchSource | undefined;
    try {
      source = await c.make();
      process.stderr.write(`${c.name}: exporting…\n`);
      const r = await runChild(source.connectorFile);
      const seconds = r.durationMs / 1000;
      rows.push([
        c.name,
        r.rows,
        r.resources,
        `${seconds.toFixed(2)} s`,
        Math.round(r.rows / seconds),
        Math.round(r.resources / seconds),
        `${Math.round(r.peakRss / 1024 / 1024)} MiB`,
      ]);
    } catch (err) {
      rows.push([c.name, '-', '-', '-', '-', '-', `failed: ${err instanceof Error ? err.message : String(err)}`]);
    } finally {
      await source?.dispose().catch(() => undefined);
    }
  }
  if (rows.length > 0)
    process.stdout.write(
      table(['source', 'rows', 'resources', 'time', 'rows/s', 'resources/s', 'peak RSS'], rows, [
        false,
        true,
        true,
        true,
        true,
        true,
        true,
      ]) + '\n',
    );
  // export throughput with and without profile validation, and validation alone (bench/validation.ts)
  if (only.length === 0 || only.includes('validation')) {
    const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
    const pooled = async (connectorFile: string, validate: boolean) => ({
      workers,
      ...(await runChild<Measure>(connectorFile, { kind: 'ours', threads: workers, validate })),
    });
    process.stdout.write(await validationBench(pg, copies, pooled));
  }
  if (only.length === 0 || only.includes('floors')) {
    if (pg) await floors(pg, copies);
    else process.stdout.write('floors: skipped (set TEST_POSTGRES_URL or FHIR_BRIDGE_POSTGRES_URL)\n');
  }
  if (only.length === 0 || only.includes('scale-out')) {
    if (pg) await scaleOut(pg, copies);
    else process.stdout.write('scale-out: skipped (set TEST_POSTGRES_URL or FHIR_BRIDGE_POSTGRES_URL)\n');
  }
}

/** hand-written / fhir-bridge pairs the engine ratio is the median of (BENCH_PAIRS, default 5) */
const PAIRS = Math.max(1, Number(process.env.BENCH_PAIRS ?? 5));

const mib = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MiB`;

/** The floors (floors.ts) and the server timings on the PostgreSQL sample ×copies, with their ratios. */
async function floors(pg: string, copies: number): Promise<void> {
  const source = await keptPostgresSource(pg, copies);
  const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
  try {
    const cases: Array<[string, FloorMode]> = [
      ['raw floor: every SELECT → JSON.stringify(row)', { kind: 'raw' }],
      [`fhir-bridge export, ${workers} threads (as the CLI and serve: this + ${workers - 1} pool)`, { kind: 'ours', threads: workers }],
      ['fhir-bridge export on this thread only', { kind: 'ours', threads: 1 }],
      ['observation-lab raw floor', { kind: 'raw', mappings: ['observation-lab'] }],
      // what cutting big runs into key ranges costs the database (README "Threads")
      ...(workers > 1
        ? [
            [`fhir-bridge export, ${workers} threads, no run cut into key ranges`, { kind: 'ours', threads: workers, cut: false }] as [
              string,
              FloorMode,
            ],
          ]
        : []),
    ];
    const results: Measure[] = [];
    const uses: Array<MachineUse | undefined> = [];
    const rows: Array<Array<string | number>> = [];
    const row = (name: string, r: Measure, use?: MachineUse): Array<string | number> => [
      name,
      r.rows,
      r.resources,
      `${(r.wallMs / 1000).toFixed(2)} s`,
      (r.cpuMs / r.wallMs).toFixed(2),
      Math.round(r.resources / (r.wallMs / 1000)),
      mib(r.peakRss),
      use ? use.busyCores.toFixed(2) : '–',
      use ? `${use.databaseSeconds.toFixed(1)} s` : '–',
    ];
    for (const [name, mode] of cases) {
      process.stderr.write(`floors ×${copies}: ${name}…\n`);
      const before = await sampleMachine();
      const r = await runChild<Measure>(source.connectorFile, mode);
      const use = machineUse(before, await sampleMachine());
      results.push(r);
      uses.push(use);
      rows.push(row(name, r, use));
    }
    // The engine against the hand-written mapper: a case of a few seconds, whose single wall times swung by a
    // third on this shared machine, so it runs as PAIRS pairs, back to back, alternating which goes first; the
    // ratio is the median of the pairs' ratios, with their range.
    const hand: FloorMode = { kind: 'hand', mapping: 'observation-lab' };
    const ours: FloorMode = { kind: 'ours', threads: 1, mappings: ['observation-lab'] };
    const pairs: Array<{ hand: Measure; ours: Measure }> = [];
    for (let i = 0; i < PAIRS; i++) {
      process.stderr.write(`floors ×${copies}: observation-lab, hand-written and fhir-bridge, pair ${i + 1} of ${PAIRS}…\n`);
      const first = await runChild<Measure>(source.connectorFile, i % 2 === 0 ? hand : ours);
      const second = await runChild<Measure>(source.connectorFile, i % 2 === 0 ? ours : hand);
      pairs.push(i % 2 === 0 ? { hand: first, ours: second } : { hand: second, ours: first });
    }
    const engineRatios = pairs.map((p) => p.hand.wallMs / p.ours.wallMs).sort((a, b) => a - b);
    const medianOf = (pick: (p: { hand: Measure; ours: Measure }) => Measure): Measure =>
      pairs.map(pick).sort((a, b) => a.wallMs - b.wallMs)[Math.floor(pairs.length / 2)]!;
    rows.push(
      row(
        `observation-lab hand-written TypeScript (median of ${PAIRS})`,
        medianOf((p) => p.hand),
      ),
    );
    rows.push(
      row(
        `observation-lab fhir-bridge, this thread (median of ${PAIRS})`,
        medianOf((p) => p.ours),
      ),
    );
    process.stderr.write('server: tiny export (Patient, 11 patients) ×7 and a whole export…\n');
    const tiny = await serverExports(undefined, '/$export?_type=Patient', 7);
    // the CLI and the server as a user runs them (default --workers: fewer than the cores beside a database on
    // this machine) and on as many threads as the floors above
    const byDefault = defaultWorkers(await loadConnectorConfig(source.connectorFile));
    const threadCounts = byDefault === workers ? [workers] : [byDefault, workers];
    const label = (n: number): string => `${n === byDefault ? 'default, ' : ''}${n} thread${n === 1 ? '' : 's'}`;
    const servers: Array<{ threads: number; whole: Awaited<ReturnType<typeof serverExports>> }> = [];
    const clis: Array<{ threads: number; run: Awaited<ReturnType<typeof cliExport>> }> = [];
    for (const threads of threadCounts) {
      process.stderr.write(`server (${label(threads)}): a whole export…\n`);
      servers.push({ threads, whole: await serverExports(source.connectorFile, '/$export', 1, ['--workers', String(threads)]) });
      process.stderr.write(`CLI: fhir-bridge export (validation on, ${label(threads)})…\n`);
      clis.push({ threads, run: await cliExport(source.connectorFile, ['--workers', String(threads)]) });
    }
    const cli = clis[0]!.run;
    // the same on the sample ×10: peak memory must not grow with the data (the target: within 1.2×)
    let small: { copies: number; wallMs: number; peakRss: number } | undefined;
    if (copies > 10) {
      process.stderr.write('CLI: the same on the sample ×10…\n');
      const ten = await keptPostgresSource(pg, 10);
      try {
        small = { copies: 10, ...(await cliExport(ten.connectorFile, ['--workers', String(byDefault)])) };
      } finally {
        await ten.dispose();
      }
    }
    const perSecond = (m: Measure): number => m.resources / m.wallMs;
    const [raw, cliLike, one, obsRaw, uncut] = results as [Measure, Measure, Measure, Measure, Measure | undefined];
    // the machine's use during the same cases (same order)
    const [, cliLikeUse, , , uncutUse] = uses;
    const obsHand = medianOf((p) => p.hand);
    const obsOurs = medianOf((p) => p.ours);
    process.stdout.write(
      `\nPostgreSQL ×${copies}, ${workers} threads (CPU/wall: user+system CPU of all threads ÷ wall time; machine busy: ` +
        `cores the whole machine kept busy while the case's process ran, database CPU: what the database server's ` +
        `processes on this machine spent meanwhile; Linux only)\n` +
        table(['case', 'rows', 'resources', 'time', 'CPU/wall', 'resources/s', 'peak RSS', 'machine busy', 'database CPU'], rows, [
          false,
          true,
          true,
          true,
          true,
          true,
          true,
          true,
          true,
        ]) +
        '\n\n' +
        table(
          ['ratio', 'value'],
          [
            [
              `observation-lab: fhir-bridge / hand-written (one thread; median of ${PAIRS} pairs, range)`,
              `${median(engineRatios).toFixed(2)} (${engineRatios[0]!.toFixed(2)}–${engineRatios.at(-1)!.toFixed(2)})`,
            ],
            ['observation-lab: fhir-bridge / raw', (perSecond(obsOurs) / perSecond(obsRaw)).toFixed(2)],
            ['observation-lab: hand-written / raw', (perSecond(obsHand) / perSecond(obsRaw)).toFixed(2)],
            [`whole export, ${workers} threads / raw floor`, (perSecond(cliLike) / perSecond(raw)).toFixed(2)],
            [`whole export, ${workers} threads: CPU/wall`, (cliLike.cpuMs / cliLike.wallMs).toFixed(2)],
            [
              `whole export, ${workers} threads: cores the machine kept busy (of ${availableParallelism()}), database CPU`,
              cliLikeUse ? `${cliLikeUse.busyCores.toFixed(2)}, ${cliLikeUse.databaseSeconds.toFixed(1)} s` : 'n/a (not Linux)',
            ],
            [`whole export, ${workers} threads / this thread only`, (perSecond(cliLike) / perSecond(one)).toFixed(2)],
            ...(uncut
              ? [
                  [
                    `whole export, ${workers} threads: runs cut / none cut (resources/s; database CPU)`,
                    `${(perSecond(cliLike) / perSecond(uncut)).toFixed(2)}; ` +
                      (cliLikeUse && uncutUse
                        ? `${cliLikeUse.databaseSeconds.toFixed(1)} s / ${uncutUse.databaseSeconds.toFixed(1)} s`
                        : 'n/a (not Linux)'),
                  ],
                ]
              : []),
            ['server: tiny export kick-off → manifest (median of 7)', `${Math.round(median(tiny.tries))} ms (${tiny.resources} resources)`],
            ...servers.map(({ threads, whole }) => [
              `server (${label(threads)}): whole export kick-off → manifest / peak RSS (VmHWM)`,
              `${(whole.tries[0]! / 1000).toFixed(2)} s / ${mib(whole.peakRss)}`,
            ]),
            ...clis.map(({ threads, run }) => [
              `CLI (${label(threads)}): fhir-bridge export (validation on), wall / peak RSS (VmHWM)`,
              `${(run.wallMs / 1000).toFixed(2)} s / ${mib(run.peakRss)}`,
            ]),
            ...(small
              ? [
                  [
                    `CLI (${label(byDefault)}): peak RSS ×${copies} / ×${small.copies} (${mib(cli.peakRss)} / ${mib(small.peakRss)})`,
                    (cli.peakRss / small.peakRss).toFixed(2),
                  ],
                ]
              : []),
          ],
          [false, true],
        ) +
        '\n',
    );
  } finally {
    await source.dispose();
  }
}

const measureAt = process.argv.indexOf('--measure');
const floorAt = process.argv.indexOf('--floor');
if (floorAt >= 0) {
  measureFloor(process.argv[floorAt + 1]!, JSON.parse(process.argv[floorAt + 2]!) as FloorMode)
    .then((r) => process.stdout.write(JSON.stringify(r) + '\n'))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
} else if (measureAt >= 0) {
  measure(process.argv[measureAt + 1]!)
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
