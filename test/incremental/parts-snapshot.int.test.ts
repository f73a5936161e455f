// Issue 10: a PostgreSQL export cut into parts reads ONE snapshot. The coordinator (runPartedExport) begins
// it and every part, on a worker thread of the warm pool, adopts it by id. A change committed after the
// snapshot began and before any part ran must not be in the export (a next export has it), and every
// query a part sends runs in a transaction that adopted the coordinator's snapshot: the test reads what the
// parts' connections send through a TCP proxy in front of the database.
// The worker threads need the compiled worker (`npm run build`); with it the parts run as the CLI runs them,
// on a pool thread and on this thread; without dist/ only on this thread (inProcessRunner), which the test says.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSnapshotLost } from '../../src/connectors/snapshot-lost.js';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import type { ExportPart } from '../../src/pipeline/part.js';
import { inProcessRunner, type PartRunner, poolAndThisThread } from '../../src/pipeline/part-runner.js';
import { runPartedExport } from '../../src/pipeline/run-parted-export.js';
import type { PartPool } from '../../src/pipeline/worker-pool.js';
import { loadSample } from '../../src/sample/load-sample.js';
import { testDatabase } from '../support/databases.js';
import { REPO_ROOT } from '../support/e2e-support.js';
import { tcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { writeScenarioConnector } from './scenario.js';

const db = await testDatabase('postgres', 'parts');
if ('skip' in db) console.warn(`parts-snapshot.int.test: ${db.skip}`);
const DIST_POOL = join(REPO_ROOT, 'dist', 'pipeline', 'worker-pool.js');
const threads = existsSync(DIST_POOL);
if (!threads) console.warn('parts-snapshot.int.test: no dist/ build (npm run build): parts run on this thread, not on worker threads');

describe.skipIf('skip' in db)('PostgreSQL parts share the coordinator snapshot', () => {
  const d = db as Exclude<typeof db, { skip: string }>;
  let dir: string;
  let proxy: TcpProxy;
  let connector: string;
  let source: OpenedSource;
  let pool: PartPool | undefined;
  let runner: PartRunner;
  let writer: pg.Client;
  let schema: string;
  /** what each proxied connection sent, as text (SQL travels as UTF-8 inside the protocol messages) */
  const sent = new Map<number, string>();

  beforeAll(async () => {
    const config: ConnectorConfig = d.config({ name: 'parts-pg' });
    await loadSample(config);
    schema = String(config.options?.schema);
    const target = new URL(d.url);
    proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    proxy.onClientData = (chunk, connection) => sent.set(connection, (sent.get(connection) ?? '') + chunk.toString('latin1'));
    const url = new URL(d.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    dir = await mkdtemp(join(tmpdir(), 'parts-snapshot-'));
    connector = await writeScenarioConnector(dir, {
      name: 'parts-pg',
      kind: 'postgres',
      connection: url.toString(),
      ...(config.options ? { options: config.options } : {}),
    });
    source = await openSource(connector);
    if (threads) {
      const { createPartPool } = (await import(pathToFileURL(DIST_POOL).href)) as typeof import('../../src/pipeline/worker-pool.js');
      // as `fhir-bridge export` runs them: a pool thread and this thread, so both kinds of reader are checked
      pool = createPartPool({ workers: 1 });
      await pool.warm(connector);
      runner = poolAndThisThread(pool, source);
    } else runner = inProcessRunner(source, 2);
    writer = new pg.Client({ connectionString: d.url });
    await writer.connect();
    await writer.query(`SET search_path TO ${pg.escapeIdentifier(schema)}`);
  }, 600_000);

  afterAll(async () => {
    await writer?.end();
    await pool?.close();
    await source?.close();
    await proxy?.close();
    await d.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function exportTo(out: string, before?: (part: ExportPart) => Promise<void>) {
    const parts: ExportPart[] = [];
    let first: Promise<void> | undefined;
    const watching: PartRunner = {
      concurrency: runner.concurrency,
      run: async (part, options) => {
        parts.push(part);
        if (before) {
          first ??= before(part);
          await first;
        }
        return runner.run(part, options);
      },
    };
    const summary = await runPartedExport({
      exportId: `parts-snapshot-${out}`,
      connectorFile: connector,
      mappings: source.mappings,
      adapter: source.adapter,
      request: { types: ['Patient', 'Encounter'] },
      runner: watching,
      dir: join(dir, out),
    });
    const text = (await Promise.all((await readdir(join(dir, out))).map((n) => readFile(join(dir, out, n), 'utf8')))).join('');
    return { summary, parts, text };
  }

  it('a change committed after the snapshot began and before the parts ran is not in the export; its queries adopted the snapshot', async () => {
    const [{ id: patient }] = (await writer.query('SELECT id FROM patients ORDER BY id LIMIT 1')).rows as Array<{ id: string }>;
    const start = Math.max(0, ...sent.keys());
    const first = await exportTo('first', async () => {
      await writer.query(`UPDATE patients SET first = 'RenamedMidExport' WHERE id = $1`, [patient]);
    });
    expect(first.parts.length).toBeGreaterThan(1);
    const snapshot = first.parts[0]!.snapshot;
    expect(snapshot).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    expect(new Set(first.parts.map((p) => p.snapshot))).toEqual(new Set([snapshot]));
    expect(first.text).toContain(`"id":"${patient}"`);
    expect(first.text).not.toContain('RenamedMidExport');

    // Every data query of this export, on whichever connection, ran in a transaction that had adopted the
    // coordinator's snapshot (BEGIN ... SET TRANSACTION SNAPSHOT '<id>', then the query, then COMMIT).
    let dataQueries = 0;
    for (const [connection, text] of sent) {
      if (connection <= start) continue;
      const events = [...text.matchAll(/SET TRANSACTION SNAPSHOT '([^']+)'|\bCOMMIT\b|\bfrom "?(patients|encounters)"?/gi)];
      let adopted: string | undefined;
      for (const e of events) {
        if (e[1] !== undefined) adopted = e[1];
        else if (/^commit$/i.test(e[0])) adopted = undefined;
        else if (!/pg_export_snapshot/.test(text.slice(Math.max(0, e.index! - 200), e.index))) {
          dataQueries++;
          expect(adopted, `connection ${connection}: ${e[0]} outside the snapshot`).toBe(snapshot);
        }
      }
    }
    expect(dataQueries).toBeGreaterThanOrEqual(first.parts.length);

    // the change was committed: the next export has it
    const next = await exportTo('next');
    expect(next.text).toContain('RenamedMidExport');
    expect(Date.parse(next.summary.transactionTime)).toBeGreaterThan(Date.parse(first.summary.transactionTime));
  }, 300_000);

  it('the readers of one snapshot share the pool: each connection is set up (and gets its error listener) once', async () => {
    // a source of its own, so that its connections are new ones (the shared source's were set up by the
    // parts this thread ran in the first test)
    const fresh = await openSource(connector);
    const start = Math.max(0, ...sent.keys());
    const snapshot = await fresh.adapter.beginSnapshot!();
    try {
      // more readers than EventEmitter's default listener limit, one after another on the pool's connections
      for (let i = 0; i < 15; i++) {
        const reader = fresh.adapter.adoptSnapshot!(snapshot.id!);
        for await (const _ of reader.stream({ table: 'patients' })) void _; // read to the end: the connection goes back to the pool
      }
    } finally {
      await snapshot.release();
      await fresh.close();
    }
    const setups = [...sent]
      .filter(([connection]) => connection > start)
      .map(([, text]) => text.match(/SET TIME ZONE 'UTC'/g)?.length ?? 0);
    expect(setups.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(Math.max(...setups)).toBe(1);
  }, 120_000);

  it('a part that cannot adopt the snapshot any more fails with a clear error instead of reading later rows', async () => {
    const snapshot = await source.adapter.beginSnapshot!();
    const reader = source.adapter.adoptSnapshot!(snapshot.id!);
    const rows: unknown[] = [];
    for await (const row of reader.stream({ table: 'patients' })) rows.push(row);
    expect(rows.length).toBeGreaterThan(0);
    await snapshot.release(); // the exporting transaction ends, as when its connection is lost
    const failed = await (async () => {
      for await (const _ of reader.stream({ table: 'patients' })) return undefined;
    })().catch((err: unknown) => err);
    expect(isSnapshotLost(failed)).toBe(true);
    expect((failed as Error).message).toMatch(new RegExp(`parts-pg: the export's source snapshot ${snapshot.id} is gone`));
  }, 120_000);
});
