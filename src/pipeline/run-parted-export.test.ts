import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import type { SourceAdapter } from '../connectors/types.js';
import type { SinkResult } from '../sinks/types.js';
import { openSource, type OpenedSource } from './open-source.js';
import { partFilePrefix, type ExportPart } from './part.js';
import { inProcessRunner, type PartRunner } from './part-runner.js';
import { runExport } from './run-export.js';
import { runPart } from './run-part.js';
import { runPartedExport } from './run-parted-export.js';
import type { ExportProgress } from './types.js';

const CONNECTOR = join(import.meta.dirname, '../../connectors/synthea-sqlite.yaml');
let source: OpenedSource;
const dirs: string[] = [];
const scratch = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'parted-'));
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  source = await openSource(CONNECTOR);
});
afterAll(async () => {
  await source.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** type → the bytes of its files, concatenated in the order the result lists them */
async function contentByType(files: SinkResult['output']): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of files) out[f.type] = (out[f.type] ?? '') + (await readFile(f.path, 'utf8'));
  return out;
}

describe('an export cut into parts', () => {
  it('hands the runner the parts of mappings with child queries first (the next test: the files are those of plan order)', async () => {
    const handed: string[] = [];
    const inner = inProcessRunner(source, 2);
    const recording: PartRunner = {
      concurrency: inner.concurrency,
      run: (part, options) => {
        handed.push(part.mapping);
        return inner.run(part, options);
      },
    };
    const dir = await scratch();
    const summary = await runPartedExport({
      exportId: 'order',
      connectorFile: CONNECTOR,
      mappings: source.mappings,
      request: {},
      runner: recording,
      dir,
    });
    const children = new Map(source.mappings.mappings.map((m) => [m.name, m.children.length]));
    const weights = handed.map((name) => children.get(name)!);
    expect(weights).toEqual([...weights].sort((a, b) => b - a));
    expect(weights[0]).toBeGreaterThan(0);
    expect(handed[0]).toBe('eob'); // three child queries: the heaviest of the Synthea mappings
    expect(handed).toHaveLength(source.mappings.mappings.length);
    // within the same weight, plan order
    const plain = handed.filter((name) => children.get(name) === 0);
    const planned = source.mappings.mappings.map((m) => m.name).filter((name) => children.get(name) === 0);
    expect(plain).toEqual(planned);
    expect(summary.counts.ExplanationOfBenefit).toBeGreaterThan(0);
  });

  it('writes, file for file, the bytes a single-threaded export writes', async () => {
    const single = await scratch();
    await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir: single }), concurrency: 1 });
    const parted = await scratch();
    const summary = await runPartedExport({
      exportId: 'e1',
      connectorFile: CONNECTOR,
      mappings: source.mappings,
      request: {},
      runner: inProcessRunner(source, 3),
      dir: parted,
    });
    const names = (await readdir(single)).sort();
    expect((await readdir(parted)).sort()).toEqual(names);
    for (const n of names) expect(await readFile(join(parted, n), 'utf8'), n).toBe(await readFile(join(single, n), 'utf8'));
    expect(summary.counts.Observation).toBe((await readFile(join(single, 'Observation.000001.ndjson'), 'utf8')).split('\n').length - 1);
  });

  it('splits files at maxResourcesPerFile and keeps each type in order across parts', async () => {
    const single = await scratch();
    await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir: single }), concurrency: 1 });
    const expected = await contentByType(
      (await readdir(single)).map((n) => ({ type: n.split('.')[0]!, path: join(single, n), count: 0, bytes: 0 })),
    );
    const parted = await scratch();
    const summary = await runPartedExport({
      exportId: 'e2',
      mappings: source.mappings,
      request: { types: ['Observation', 'Patient'] },
      runner: inProcessRunner(source, 2),
      dir: parted,
      filePrefix: 'job-',
      maxResourcesPerFile: 150,
    });
    const byType = await contentByType(summary.files.output);
    expect(byType.Observation).toBe(expected.Observation);
    expect(byType.Patient).toBe(expected.Patient);
    for (const f of summary.files.output) expect(f.count).toBeLessThanOrEqual(150);
    const observationFiles = summary.files.output.filter((f) => f.type === 'Observation').map((f) => f.path.split('/').at(-1));
    expect(observationFiles[0]).toBe('job-Observation.000001.ndjson');
    expect(observationFiles.length).toBeGreaterThan(1);
    // nothing of the parts is left beside the export's files
    expect((await readdir(parted)).filter((n) => n.includes('~'))).toEqual([]);
  });

  it('runs a part again by replacing its own files', async () => {
    const dir = await scratch();
    const part: ExportPart = {
      exportId: 'e3',
      index: 0,
      request: { types: ['Patient'] },
      run: 0,
      mapping: 'patient',
      dir,
      filePrefix: partFilePrefix('', 0),
      gzip: false,
      maxResourcesPerFile: 4,
    };
    const first = await runPart(part, source);
    const firstBytes = await Promise.all(first.files.output.map((f) => readFile(f.path, 'utf8')));
    const second = await runPart({ ...part, maxResourcesPerFile: 100 }, source);
    expect(first.files.output.length).toBe(3);
    expect(second.files.output.length).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['~part000000.Patient.000001.ndjson']);
    expect(await readFile(second.files.output[0]!.path, 'utf8')).toBe(firstBytes.join(''));
    expect(second.counts).toEqual({ Patient: 11 });
  });

  it('stops every part on the first failure and leaves no file behind', async () => {
    const dir = await scratch();
    const inner = inProcessRunner(source, 2);
    const failing: PartRunner = {
      concurrency: 2,
      run: (part, options) => (part.index === 3 ? Promise.reject(new Error('part 3 broke')) : inner.run(part, options)),
    };
    await expect(
      runPartedExport({
        exportId: 'e4',
        mappings: source.mappings,
        request: {},
        runner: failing,
        dir,
        leadingErrors: [{ resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'not-supported' }] }],
      }),
    ).rejects.toThrow('part 3 broke');
    expect(await readdir(dir)).toEqual([]);
  });

  it('hands a run its parts as soon as its key ranges are read, while later runs are still being cut', async () => {
    // Key reads (the queries of only the key column: a probe, then maybe the keys in order) of every run but
    // the first cut wait until a part has been handed to the runner, or 3 s: an export that cut every run
    // before running any part would wait out the 3 s first.
    const events: string[] = [];
    let opened!: () => void;
    const gate = Promise.race([new Promise<void>((resolve) => (opened = resolve)), new Promise((resolve) => setTimeout(resolve, 3000))]);
    const runs: string[] = [];
    const adapter = Object.create(source.adapter) as SourceAdapter;
    adapter.stream = async function* (query, options) {
      if (!query.columns) return yield* source.adapter.stream(query, options);
      const text = JSON.stringify({ ...query, limit: undefined, orderBy: undefined });
      if (!runs.includes(text)) runs.push(text);
      const n = runs.indexOf(text) + 1;
      if (n > 1) await gate;
      yield* source.adapter.stream(query, options);
      events.push(`cut ${n}`);
    };
    const inner = inProcessRunner(source, 2);
    const recording: PartRunner = {
      concurrency: inner.concurrency,
      run: (part, options) => {
        events.push(`part ${part.mapping}`);
        opened();
        return inner.run(part, options);
      },
    };
    const progress: ExportProgress[] = [];
    const dir = await scratch();
    const summary = await runPartedExport({
      exportId: 'overlap',
      connectorFile: CONNECTOR,
      mappings: source.mappings,
      request: {},
      runner: recording,
      split: { adapter, partsPerRun: 2, minRowsPerPart: 100 },
      dir,
      onProgress: (p) => progress.push(p),
    });
    expect(runs.length).toBeGreaterThan(2);
    // the heaviest run is cut first and runs while the rest are read
    expect(events[0]).toBe('cut 1');
    expect(events.find((e) => e.startsWith('part '))).toBe('part eob');
    expect(events.indexOf('part eob')).toBeLessThan(events.lastIndexOf(`cut ${runs.length}`));
    // every run was cut, some into several parts, and each mapping counted done once, at the end
    const parts = events.filter((e) => e.startsWith('part ')).length;
    expect(parts).toBeGreaterThan(source.mappings.mappings.length);
    const done = progress.map((p) => p.mappingsDone);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(progress.at(-1)).toMatchObject({
      mappingsDone: source.mappings.mappings.length,
      mappingsTotal: source.mappings.mappings.length,
    });
    // the same resources as the export cut nowhere
    const whole = await runPartedExport({
      exportId: 'whole',
      mappings: source.mappings,
      request: {},
      runner: inProcessRunner(source, 2),
      dir: await scratch(),
    });
    expect(summary.counts).toEqual(whole.counts);
    expect(await contentByType(summary.files.output).then((c) => Object.keys(c).sort())).toEqual(Object.keys(whole.counts).sort());
  });
});

// The pool needs the compiled worker (npm run build); the test imports the build it is about.
const DIST_POOL = join(import.meta.dirname, '../../dist/pipeline/worker-pool.js');
describe.skipIf(!existsSync(DIST_POOL))('the warm pool (dist/, after npm run build)', () => {
  it('runs parts on worker threads with the same output, reports progress, and stops on an abort', async () => {
    const { createPartPool } = (await import(DIST_POOL)) as typeof import('./worker-pool.js');
    const pool = createPartPool({ workers: 2 });
    try {
      await pool.warm(CONNECTOR);
      const single = await scratch();
      await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir: single }), concurrency: 1 });
      const dir = await scratch();
      let rows = 0;
      const summary = await runPartedExport({
        exportId: 'p1',
        connectorFile: CONNECTOR,
        mappings: source.mappings,
        request: {},
        runner: pool,
        dir,
        onProgress: (p) => (rows = p.rowsRead),
      });
      expect(rows).toBe(Object.values(summary.rowsRead).reduce((a, b) => a + b, 0));
      for (const n of await readdir(single)) expect(await readFile(join(dir, n), 'utf8'), n).toBe(await readFile(join(single, n), 'utf8'));

      const stop = new AbortController();
      const aborted = await scratch();
      const run = runPartedExport({
        exportId: 'p2',
        connectorFile: CONNECTOR,
        mappings: source.mappings,
        request: { batchSize: 5 },
        runner: pool,
        dir: aborted,
        signal: stop.signal,
        onProgress: () => stop.abort(new Error('cancelled by the client')),
      });
      await expect(run).rejects.toThrow('cancelled by the client');
      expect(await readdir(aborted)).toEqual([]);
    } finally {
      await pool.close();
    }
  }, 60_000);
});
