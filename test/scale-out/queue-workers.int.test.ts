// Issue 11, partitioned exports on a PostgreSQL queue: one API process (`serve --queue`) and three `worker`
// processes of the built CLI share one pg-boss queue; the source is the Synthea sample loaded 20 times over
// into PostgreSQL (kept between runs, as the bench keeps it). One worker is SIGKILLed while it holds a part's
// lease: the export still completes, with the same resources as a single-process export (compared per type
// by count and an order-independent digest of the lines; key-range parts write in key order, not the
// single-process export's scan order), no id twice, and the queue's records show the killed worker's part
// taken over (lease expired) and completed by another worker on a later attempt.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import knexPkg from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keptPostgresSource, type BenchSource } from '../../bench/sources.js';
import { runCli } from '../support/run-cli.js';
import { cliBuilt, exportThroughApi, startQueueCluster } from '../../bench/scale-out.js';
import { readExport, type ExportedType } from './queue-support.js';

const knex = knexPkg.default ?? knexPkg;
const url = process.env.TEST_POSTGRES_URL;
const COPIES = 20;

describe.skipIf(!url || !cliBuilt())(
  'an export run by 3 worker processes from a PostgreSQL queue, one of them killed',
  { timeout: 900_000 },
  () => {
    const queueSchema = `fbq_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const queueUrl = url!;
    let source: BenchSource;
    let dir: string;
    let db: ReturnType<typeof knex>;
    const stops: Array<() => Promise<void>> = [];

    beforeAll(async () => {
      source = await keptPostgresSource(url!, COPIES);
      dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-queue-'));
      db = knex({ client: 'pg', connection: url!, pool: { min: 0, max: 2 } });
    }, 900_000);

    afterAll(async () => {
      await Promise.all(stops.map((stop) => stop()));
      await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [queueSchema]).catch(() => undefined);
      await db?.destroy();
      await source?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('completes with the single-process export’s resources, and the killed worker’s part is redone by another', async () => {
      // the single-process export to compare with
      const single = join(dir, 'single');
      const cli = await runCli('export', '-c', source.connectorFile, '-o', single, '--no-validate');
      expect(cli.code, cli.err).toBe(0);
      const expected = await readExport(single);

      const dataDir = join(dir, 'data');
      const cluster = await startQueueCluster(source.connectorFile, { url: queueUrl, schema: queueSchema }, 3, {
        dataDir,
        serveArgs: ['--part-lease', '4', '--part-retries', '5', '--parts-per-mapping', '6', '--min-rows-per-part', '4000'],
      });
      stops.push(cluster.stop);
      const { base, workers } = cluster;

      const exporting = exportThroughApi(base);
      exporting.catch(() => undefined);
      // SIGKILL w1 while it holds a part's lease (it has taken a part and is running it)
      const leases = `${queueSchema}.fhir_bridge_part_lease`;
      const until = Date.now() + 300_000;
      let killedJob: string | undefined;
      while (!killedJob) {
        const held = await db
          .raw(`SELECT job_id FROM ${leases} WHERE worker = 'w1' AND state = 'held' LIMIT 1`)
          .catch(() => ({ rows: [] }));
        killedJob = (held.rows as Array<{ job_id: string }>)[0]?.job_id;
        if (!killedJob) {
          if (Date.now() > until) throw new Error(`w1 never held a part:\n${workers[0]!.stderr().slice(-2000)}`);
          await sleep(50);
        }
      }
      workers[0]!.child.kill('SIGKILL');
      await workers[0]!.exited;
      // the part(s) w1 held when it died (the one seen above, unless it finished it in the instant before)
      const unfinished = await db.raw(`SELECT job_id FROM ${leases} WHERE worker = 'w1' AND state NOT IN ('done', 'failed')`);
      const heldAtDeath = (unfinished.rows as Array<{ job_id: string }>).map((r) => r.job_id);
      expect(heldAtDeath.length).toBeGreaterThan(0);
      if (!heldAtDeath.includes(killedJob)) killedJob = heldAtDeath[0]!;

      const { jobId, manifest } = await exporting;
      const files = [...manifest.output, ...manifest.error].map((f) => basename(new URL(f.url).pathname));
      const got = await readExport(join(dataDir, 'jobs', jobId), files);

      // the same resources as the single-process export, none twice
      const summary = (m: Map<string, ExportedType>): Record<string, { count: number; digest: string }> =>
        Object.fromEntries(
          [...m].sort(([a], [b]) => a.localeCompare(b)).map(([t, e]) => [t, { count: e.count, digest: e.digest.toString(16) }]),
        );
      expect(summary(got)).toEqual(summary(expected));
      for (const [type, e] of got) if (type !== 'OperationOutcome') expect(new Set(e.ids).size, `${type} ids`).toBe(e.ids.length);
      expect(got.get('Observation')!.count).toBeGreaterThan(20_000);

      // big mappings were cut into key ranges, so the workers shared them
      const jobs = await db.raw(
        `SELECT id, state::text AS state, retry_count, retry_limit, output->>'worker' AS worker, data->'part'->'range' IS NOT NULL AS ranged
       FROM ${queueSchema}.job WHERE name = 'fhir-bridge-parts' AND data->'part'->>'exportId' = ?`,
        [jobId],
      );
      const rows = jobs.rows as Array<{
        id: string;
        state: string;
        retry_count: number;
        retry_limit: number;
        worker: string;
        ranged: boolean;
      }>;
      expect(rows.filter((r) => r.ranged).length).toBeGreaterThan(6);
      expect(rows.every((r) => r.state === 'completed')).toBe(true);
      // serve's --part-retries is what every part was queued with (pg-boss retries it that many times)
      expect(new Set(rows.map((r) => r.retry_limit))).toEqual(new Set([5]));
      // the parts were spread over the workers (w1 too, before it died)
      const attempts = await db.raw(`SELECT job_id, attempt, worker, state FROM ${leases}`);
      const byWorker = new Set((attempts.rows as Array<{ worker: string | null }>).map((a) => a.worker));
      for (const w of ['w1', 'w2', 'w3']) expect(byWorker.has(w), `${w} ran parts`).toBe(true);

      // the part w1 held when it died: its lease expired, then another worker completed it on a later attempt
      const history = (attempts.rows as Array<{ job_id: string; attempt: number; worker: string | null; state: string }>)
        .filter((a) => a.job_id === killedJob)
        .sort((a, b) => a.attempt - b.attempt);
      expect(history[0]).toMatchObject({ worker: 'w1', state: 'expired' });
      const killedPart = rows.find((r) => r.id === killedJob)!;
      expect(killedPart.state).toBe('completed');
      expect(killedPart.retry_count).toBeGreaterThanOrEqual(1);
      expect(['w2', 'w3']).toContain(killedPart.worker);
      expect(history.at(-1)).toMatchObject({ worker: killedPart.worker, state: 'done', attempt: killedPart.retry_count });
      // every part was completed by a live worker
      for (const r of rows) expect(['w1', 'w2', 'w3']).toContain(r.worker);
      // no file of a dead attempt is left behind
      expect((await readdir(join(dataDir, 'jobs', jobId))).filter((n) => n.includes('~part'))).toEqual([]);
    });
  },
);
