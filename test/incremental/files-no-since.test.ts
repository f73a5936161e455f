// CSV files keep no change times: `--since` and `_since` say so instead of silently exporting everything
// (or, under `Prefer: handling=lenient`, export everything and say why in the error file).
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type BulkServer } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { exportOverHttp, REPO_ROOT } from '../support/e2e-support.js';
import { runCli } from '../support/run-cli.js';

const CSV = join(REPO_ROOT, 'connectors', 'synthea-csv.yaml');

describe('_since on a CSV source', () => {
  let dir: string;
  let source: OpenedSource;
  let server: BulkServer;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incr-csv-'));
    source = await openSource(CSV);
    server = await buildServer({
      source,
      store: new SqliteJobStore(join(dir, 'jobs.sqlite')),
      dataDir: dir,
      auth: { mode: 'open' },
      retryAfterSeconds: 1,
      minPollIntervalMs: 0,
    });
    base = await server.listen(0, '127.0.0.1');
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the CLI refuses --since and writes nothing', async () => {
    const out = join(dir, 'cli');
    const run = await runCli('export', '--connector', CSV, '--out', out, '--since', '2020-01-01T00:00:00Z');
    expect(run.code).not.toBe(0);
    expect(run.err).toMatch(/--since cannot be applied: synthea-csv reads CSV files, which keep no change times/);
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });

  it('the server refuses _since at kick-off (400), or exports everything under handling=lenient and says why', async () => {
    const res = await fetch(`${base}/fhir/$export?_type=Patient&_since=2020-01-01T00:00:00Z`, {
      headers: { accept: 'application/fhir+json', prefer: 'respond-async' },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('keep no change times');

    const lenient = await exportOverHttp(`${base}/fhir/$export?_type=Patient&_since=2020-01-01T00:00:00Z`, {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    expect(lenient.resources.Patient).toHaveLength(11);
    expect(JSON.stringify(lenient.errors)).toContain('_since');
    expect(lenient.manifest.request).toContain('_since=');
  }, 120_000);
});
