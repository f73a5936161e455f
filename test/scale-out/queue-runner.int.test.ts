// The queue runner and a queue worker in this process, on a real PostgreSQL queue (a private pg-boss schema)
// and the embedded SQLite sample: an export cut into key-range parts holds the same resources as one that is
// not; a failing part comes back as its error after its retries, recorded in the queue; cancelling a queued
// part cancels its job.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexPkg from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { inProcessRunner } from '../../src/pipeline/part-runner.js';
import { partFilePrefix, type ExportPart } from '../../src/pipeline/part.js';
import { runPartedExport } from '../../src/pipeline/run-parted-export.js';
import { PART_QUEUE } from '../../src/queue/part-queue.js';
import { createQueuePartRunner, type QueuePartRunner } from '../../src/queue/queue-part-runner.js';
import { startQueueWorker, type QueueWorker } from '../../src/queue/queue-worker.js';
import { readExport } from './queue-support.js';

const knex = knexPkg.default ?? knexPkg;
const url = process.env.TEST_POSTGRES_URL;
const CONNECTOR = join(import.meta.dirname, '../../connectors/synthea-sqlite.yaml');

describe.skipIf(!url)('parts on a PostgreSQL queue (runner and worker in one process)', { timeout: 300_000 }, () => {
  const schema = `fbq_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const settings = { url: url!, schema, leaseSeconds: 3, retryLimit: 1 };
  let source: OpenedSource;
  let runner: QueuePartRunner;
  let worker: QueueWorker | undefined;
  let db: ReturnType<typeof knex>;
  const dirs: string[] = [];
  const scratch = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'queue-runner-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    source = await openSource(CONNECTOR);
    runner = await createQueuePartRunner(settings, { pollMs: 100 });
    worker = await startQueueWorker(settings, { id: 'inproc', pollMs: 100, concurrency: 2 });
    db = knex({ client: 'pg', connection: url!, pool: { min: 0, max: 1 } });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop({ abort: true });
    await runner?.close();
    await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]).catch(() => undefined);
    await db?.destroy();
    await source?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }, 120_000);

  const jobsOf = async (exportId: string): Promise<Array<{ state: string; retry_count: number; range: unknown; worker: string }>> =>
    (
      await db.raw(
        `SELECT state::text AS state, retry_count, data->'part'->'range' AS range, output->>'worker' AS worker
         FROM ??.job WHERE name = ? AND data->'part'->>'exportId' = ?`,
        [schema, PART_QUEUE, exportId],
      )
    ).rows;

  it('an export cut into key ranges on the queue holds the resources of an uncut one', async () => {
    const whole = await scratch();
    await runPartedExport({
      exportId: 'whole',
      connectorFile: CONNECTOR,
      mappings: source.mappings,
      request: {},
      runner: inProcessRunner(source, 1),
      dir: whole,
    });
    const cut = await scratch();
    const summary = await runPartedExport({
      exportId: 'cut',
      connectorFile: CONNECTOR,
      mappings: source.mappings,
      request: {},
      runner,
      dir: cut,
      split: { adapter: source.adapter, partsPerRun: 4, minRowsPerPart: 100 },
    });
    const a = await readExport(whole);
    const b = await readExport(cut);
    const digest = (m: Map<string, { count: number; digest: bigint; ids: string[] }>): Record<string, string> =>
      Object.fromEntries([...m].map(([t, e]) => [t, `${e.count}:${e.digest.toString(16)}`]));
    expect(digest(b)).toEqual(digest(a));
    for (const [type, e] of b) if (type !== 'OperationOutcome') expect(new Set(e.ids).size, type).toBe(e.ids.length);
    expect(Object.values(summary.counts).reduce((x, y) => x + y, 0)).toBeGreaterThan(1000);
    const jobs = await jobsOf('cut');
    // big mappings became several parts (procedures: 890 rows → 4 ranges), all completed by the worker
    expect(jobs.filter((j) => j.range !== null).length).toBeGreaterThanOrEqual(8);
    expect(jobs.every((j) => j.state === 'completed' && j.worker === 'inproc')).toBe(true);
  });

  it('a part that fails on every try rejects with its error, after its retries', async () => {
    const dir = await scratch();
    const part: ExportPart = {
      exportId: 'failing',
      index: 0,
      connectorFile: CONNECTOR,
      request: {},
      run: 0,
      mapping: 'no-such-mapping',
      dir,
      filePrefix: partFilePrefix('', 0),
      gzip: false,
      maxResourcesPerFile: 1000,
    };
    await expect(runner.run(part, { signal: new AbortController().signal })).rejects.toThrow(/is not mapping no-such-mapping/);
    expect(await jobsOf('failing')).toEqual([expect.objectContaining({ state: 'failed', retry_count: 1, worker: 'inproc' })]);
  });

  it('cancelling a queued part cancels its job', async () => {
    await worker!.stop();
    worker = undefined;
    const dir = await scratch();
    const part: ExportPart = {
      exportId: 'cancelled',
      index: 0,
      connectorFile: CONNECTOR,
      request: {},
      run: 0,
      mapping: source.mappings.mappings[0]!.name,
      dir,
      filePrefix: partFilePrefix('', 0),
      gzip: false,
      maxResourcesPerFile: 1000,
    };
    const stop = new AbortController();
    const running = runner.run(part, { signal: stop.signal });
    for (let i = 0; i < 100 && (await jobsOf('cancelled')).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    stop.abort(new Error('client cancelled'));
    await expect(running).rejects.toThrow('client cancelled');
    for (let i = 0; i < 100 && (await jobsOf('cancelled'))[0]?.state !== 'cancelled'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await jobsOf('cancelled'))[0]?.state).toBe('cancelled');
  });
});
