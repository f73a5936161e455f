// The floors `npm run bench` compares fhir-bridge with, on the same source and in the same run:
// - raw: the same SELECTs (every mapping run's queries, no child queries) streamed and written as
//   JSON.stringify(row) NDJSON — what reading and writing alone cost;
// - hand-written: plain TypeScript doing what a mapping does (hand-written.ts), over the same query;
// - ours: the same mapping(s) through fhir-bridge, on this thread (one core), or the whole export on the
//   threads of the CLI and `serve` (this one and a warm pool, big runs cut into key ranges: both cores).
// Each measurement runs in a child process of its own (run.ts), so its CPU time and peak RSS are its own.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Row } from '../src/connectors/types.js';
import { openSource, type OpenedSource } from '../src/pipeline/open-source.js';
import { splitForThreads } from '../src/pipeline/key-ranges.js';
import { poolAndThisThread } from '../src/pipeline/part-runner.js';
import { planExport } from '../src/pipeline/plan.js';
import { runPartedExport } from '../src/pipeline/run-parted-export.js';
import { createPartPool } from '../src/pipeline/worker-pool.js';
import { observationLab } from './hand-written.js';

export interface Measure {
  rows: number;
  resources: number;
  /** from the first query to the last byte written (opening the source and warming the pool excluded) */
  wallMs: number;
  /** user + system CPU of the process, all threads, over the same span */
  cpuMs: number;
  peakRss: number;
}

export type FloorMode =
  | { kind: 'raw'; mappings?: string[] }
  | { kind: 'hand'; mapping: 'observation-lab' }
  /**
   * `threads` map: as the CLI and `serve`, this thread and a pool of threads−1 (0 or 1: this thread only); `cut`
   * false keeps every run whole (one part each), to see what cutting big runs into key ranges costs the database
   */
  | { kind: 'ours'; mappings?: string[]; threads: number; validate?: boolean; cut?: boolean };

const HAND: Record<string, (row: Row) => object> = { 'observation-lab': observationLab };

export async function measureFloor(connectorFile: string, mode: FloorMode): Promise<Measure> {
  const out = await mkdtemp(join(tmpdir(), 'fhir-bridge-floor-'));
  let peak = process.memoryUsage().rss;
  // unref: a failure before the try below must still let the child exit (the parent waits for it)
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20).unref();
  const source = await openSource(connectorFile);
  const poolThreads = mode.kind !== 'ours' ? 0 : mode.threads - 1;
  const pool = poolThreads > 0 ? createPartPool({ workers: poolThreads }) : undefined;
  try {
    await pool?.warm(connectorFile, { validate: mode.kind === 'ours' && mode.validate === true });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let rows = 0;
    let resources = 0;
    if (mode.kind === 'ours') {
      // the pool's threads compile the whole connector: a subset of its mappings runs on this thread
      if (pool && mode.mappings) throw new Error('bench: a subset of the mappings runs on this thread only (threads: 1)');
      const mappings = only(source, mode.mappings);
      const summary = await runPartedExport({
        exportId: 'bench',
        connectorFile,
        mappings,
        // the coordinator's adapter: a PostgreSQL export reads one snapshot the parts adopt, as the CLI's does
        adapter: source.adapter,
        request: mode.validate ? { validate: true } : {},
        // as the CLI runs them; a subset of the mappings one at a time
        runner: poolAndThisThread(pool, { adapter: source.adapter, mappings }, mode.mappings ? { concurrency: 1 } : {}),
        // big runs cut into key ranges as the CLI cuts them (one thread: nothing to share)
        ...(mode.threads > 1 && mode.cut !== false ? { split: splitForThreads(source.adapter, mode.threads) } : {}),
        dir: out,
      });
      rows = Object.values(summary.rowsRead).reduce((a, b) => a + b, 0);
      resources = Object.values(summary.counts).reduce((a, b) => a + b, 0);
    } else {
      const hand = mode.kind === 'hand' ? HAND[mode.mapping]! : undefined;
      const names = mode.kind === 'hand' ? [mode.mapping] : mode.mappings;
      const plan = planExport({ mappings: only(source, names) });
      // two queries at a time, as the export reads a database server
      const runs = [...plan.runs];
      const worker = async (): Promise<void> => {
        for (let run = runs.shift(); run; run = runs.shift()) {
          const file = createWriteStream(join(out, `${run.mapping.name}.ndjson`), { highWaterMark: 256 * 1024 });
          for (const query of run.queries) {
            let chunk = '';
            let n = 0;
            for await (const row of source.adapter.stream(query, { batchSize: 500 })) {
              chunk += JSON.stringify(hand ? hand(row) : row) + '\n';
              rows++;
              if (++n === 500) {
                await write(file, chunk);
                chunk = '';
                n = 0;
              }
            }
            if (chunk) await write(file, chunk);
          }
          file.end();
          await once(file, 'close');
        }
      };
      await Promise.all([worker(), worker()]);
      resources = rows;
    }
    const cpu = process.cpuUsage(cpu0);
    return {
      rows,
      resources,
      wallMs: performance.now() - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRss: Math.max(peak, process.resourceUsage().maxRSS * 1024),
    };
  } finally {
    clearInterval(timer);
    await pool?.close();
    await source.close();
    await rm(out, { recursive: true, force: true });
  }
}

function only(source: OpenedSource, names: string[] | undefined): OpenedSource['mappings'] {
  if (!names) return source.mappings;
  const mappings = source.mappings.mappings.filter((m) => names.includes(m.name));
  if (mappings.length !== names.length) throw new Error(`bench: no mapping ${names.join(', ')} in ${source.config.name}`);
  return { ...source.mappings, mappings };
}

async function write(file: WriteStream, chunk: string): Promise<void> {
  if (!file.write(chunk)) await once(file, 'drain');
}
