// Issue 8, item 3: the source database lost in the middle of an export, through the real CLI `export`
// against real PostgreSQL and MariaDB. The export reaches the database through a TCP proxy of its own, so
// the test can (a) kill the export's own connections on the server (pg_terminate_backend by
// application_name, MariaDB KILL of the threads on the test's private database) and (b) make the server
// unreachable for this export only (the proxy stops accepting) without disturbing anyone else's tests.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexPkg from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/commands/export.js';
import { openPostgres } from '../../src/connectors/dialects/postgres-adapter.js';
import { isSnapshotLost } from '../../src/connectors/snapshot-lost.js';
import type { SourceAdapter } from '../../src/connectors/types.js';
import { memoryIo } from '../../src/cli/io.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../support/databases.js';
import { tcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const knex = knexPkg.default ?? knexPkg;

const MAPPING = `mapping: visit
source:
  table: visit
  key: [ID]
  patient: PATIENT
children:
  obs:
    table: obs
    on: { VISIT: ID }
    orderBy: [SEQ]
resources:
  - resourceType: Encounter
    id: "{ID}"
    template:
      status: finished
      class: { system: http://terminology.hl7.org/CodeSystem/v3-ActCode, code: AMB }
      subject: { reference: "Patient/{PATIENT}" }
      serviceType: { text: "{NOTE}" }
      identifier: { $each: obs, $template: { value: "{SEQ}:{VALUE}" } }
`;

// 3000 visits of ~250 bytes each: far more than one cursor batch or socket buffer, so a kill lands mid-read.
const VISITS = 3000;
const visits = Array.from({ length: VISITS }, (_, i) => ({
  id: `v${String(i).padStart(5, '0')}`,
  patient: `p${i % 97}`,
  note: `visit ${i} `.padEnd(200, '.'),
}));
const observations = visits.flatMap((v) => [2, 1].map((seq) => ({ visit: v.id, seq, value: `${v.id}#${seq}` })));
const FAST_RETRY = { minTimeoutMs: 50, maxTimeoutMs: 200, retries: 3 };

for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
  const found = await testDatabase(kind);
  if ('skip' in found) {
    describe.skip(`source lost mid-export on ${kind} (${found.skip})`, () => it('needs a database', () => undefined));
    continue;
  }
  const db: TestDatabase = found;
  describe(`source lost mid-export on ${kind}`, { timeout: 120_000 }, () => {
    const appName = `fb_source_lost_${db.schema}`;
    let dir: string;
    let proxy: TcpProxy;
    let connectorFile: string;

    beforeAll(async () => {
      const k = knex({ client: kind === 'postgres' ? 'pg' : 'mysql2', connection: db.url, pool: { min: 0, max: 1 } });
      try {
        await k.schema.createTable('visit', (t) => {
          t.string('id', 20).primary();
          t.string('patient', 20);
          t.string('note', 250);
        });
        await k.schema.createTable('obs', (t) => {
          t.string('visit', 20).index();
          t.integer('seq');
          t.string('value', 40);
        });
        await k.batchInsert('visit', visits, 500);
        await k.batchInsert('obs', observations, 500);
      } finally {
        await k.destroy();
      }
      const target = new URL(db.url);
      proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || (kind === 'postgres' ? 5432 : 3306)) });
      dir = await mkdtemp(join(tmpdir(), 'fb-source-lost-'));
      await writeFile(join(dir, 'visit.yaml'), MAPPING);
      connectorFile = await writeConnector(dir, 'connector.yaml', proxy.port);
    }, 120_000);

    afterAll(async () => {
      await proxy?.close();
      await db.cleanup();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** The connector YAML, reaching the private database through the proxy, tagged with appName (PostgreSQL). */
    async function writeConnector(folder: string, name: string, port: number): Promise<string> {
      const url = new URL(db.url);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      if (kind === 'postgres') url.searchParams.set('application_name', appName);
      const { options } = db.config();
      const file = join(folder, name);
      await writeFile(
        file,
        `name: lost-${kind}\nkind: ${kind}\nconnection: ${JSON.stringify(url.toString())}\ntimezone: UTC\n` +
          `${options ? `options: ${JSON.stringify(options)}\n` : ''}mappings: [visit.yaml]\n`,
      );
      return file;
    }

    /** Kills every server connection of this export; returns how many there were. */
    async function killExportConnections(): Promise<number> {
      if (kind === 'postgres') {
        const { default: pg } = await import('pg');
        const admin = new pg.Client({ connectionString: db.url });
        await admin.connect();
        try {
          const r = await admin.query('select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1', [
            appName,
          ]);
          return r.rows.filter((row: { killed: boolean }) => row.killed).length;
        } finally {
          await admin.end();
        }
      }
      const { default: mysql2 } = await import('mysql2/promise');
      const admin = await mysql2.createConnection({ uri: db.url.replace(/^mariadb:/, 'mysql:') });
      try {
        // Only threads on this test's private database, and not the one asking.
        const [rows] = await admin.query('select id from information_schema.processlist where db = ? and id <> connection_id()', [
          db.schema,
        ]);
        const ids = (rows as Array<{ id: number }>).map((r) => Number(r.id));
        for (const id of ids) await admin.query(`kill connection ${id}`).catch(() => undefined);
        return ids.length;
      } finally {
        await admin.end();
      }
    }

    /** Runs the CLI export; when the proxy has passed `afterBytes` from the server, `fault` runs once. */
    async function exportWith(out: string, fault?: { afterBytes: number; run: () => Promise<unknown> }) {
      let faulted: Promise<unknown> | undefined;
      const start = proxy.bytesFromServer;
      proxy.onServerData = (total) => {
        if (fault && !faulted && total - start >= fault.afterBytes) faulted = fault.run();
      };
      const io = memoryIo();
      try {
        const code = await exportCommand({ connector: connectorFile, out, batchSize: 100, retry: FAST_RETRY }, io);
        return { code, io, faultResult: await faulted };
      } finally {
        proxy.onServerData = undefined;
      }
    }

    async function ndjsonFiles(out: string): Promise<Record<string, string>> {
      const names = (await readdir(out)).filter((n) => n.endsWith('.ndjson')).sort();
      return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(out, n), 'utf8')] as const)));
    }

    it('survives one kill of its connections: the export completes with the same bytes as an undisturbed one', async () => {
      const clean = await exportWith(join(dir, 'clean'));
      expect(clean.code, clean.io.text()).toBe(0);
      const expected = await ndjsonFiles(join(dir, 'clean'));
      expect(expected['Encounter.000001.ndjson']?.trim().split('\n')).toHaveLength(VISITS);

      const killed = await exportWith(join(dir, 'killed'), { afterBytes: 200_000, run: killExportConnections });
      expect(killed.faultResult).toBeGreaterThan(0); // the kill hit the export's connections, mid-read
      expect(killed.code, killed.io.text()).toBe(0);
      expect(await ndjsonFiles(join(dir, 'killed'))).toEqual(expected);
      const summary = JSON.parse(await readFile(join(dir, 'killed', 'summary.json'), 'utf8')) as {
        counts: object;
        rowsRead: object;
        notes: string[];
      };
      expect(summary.counts).toEqual({ Encounter: VISITS });
      expect(summary.rowsRead).toEqual({ visit: VISITS });
      // every pinned connection was killed mid-read: the rest was read outside the snapshot, which the summary says
      if (kind === 'mysql')
        expect(summary.notes).toEqual([
          expect.stringMatching(/^the source snapshot was lost mid-export \([1-4] of its 4 connections ended\)/),
        ]);
    });

    it('when the database stays unreachable: a located error, exit 1, no stack trace, no partial files', async () => {
      const out = join(dir, 'unreachable');
      const result = await exportWith(out, {
        afterBytes: 200_000,
        run: async () => {
          proxy.refuseNew();
          return killExportConnections();
        },
      });
      expect(result.code).toBe(1);
      const stderr = result.io.stderr.join('\n');
      expect(stderr).toMatch(/^error: mapping visit \(.*visit\.yaml:\d+:\d+, visit\): lost-/m);
      expect(stderr).toMatch(/ECONNREFUSED.*\(gave up after 4 attempts\)/);
      expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect((await readdir(out)).filter((n) => n.endsWith('.ndjson') || n.endsWith('.json'))).toEqual([]);
    });

    /** A one-connection PostgreSQL adapter of the private database reached through a cuttingProxy. */
    async function withCuttingProxy(
      body: (adapter: SourceAdapter, cut: Awaited<ReturnType<typeof cuttingProxy>>) => Promise<void>,
    ): Promise<void> {
      const target = new URL(db.url);
      const cut = await cuttingProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const url = new URL(db.url);
      url.hostname = '127.0.0.1';
      url.port = String(cut.port);
      const adapter = await openPostgres(db.config({ connection: url.toString(), pool: { max: 1 } }));
      try {
        await adapter.ping();
        await body(adapter, cut);
      } finally {
        await adapter.close();
        await cut.close();
      }
    }

    // The hang behind the tests above failing now and then under load: pg-cursor holds a result's last rows
    // from CommandComplete until ReadyForQuery and ignores a connection lost in between, so the read waited
    // forever. Here the connection is cut exactly there, every time.
    if (kind === 'postgres')
      it('a connection lost between the last rows of a result and its end fails the read, retryably, instead of hanging', async () => {
        await withCuttingProxy(async (adapter, cut) => {
          cut.arm((type, tag) => type === 'C' && tag.startsWith('SELECT'));
          const readAll = async (): Promise<number> => {
            let n = 0;
            // one batch holds every row: the cursor's first fetch ends with CommandComplete
            for await (const _ of adapter.stream({ table: 'visit' }, { batchSize: VISITS + 10 })) n++;
            return n;
          };
          await expect(readAll()).rejects.toMatchObject({ transient: true, message: expect.stringMatching(/connection terminated/i) });
          expect(cut.cuts).toBe(1);
          // the dead connection left the pool: the next read (a retry) gets a fresh one and every row
          await expect(readAll()).resolves.toBe(VISITS);
        });
      });

    // A kill landing while a part joins the snapshot: the join fails (the snapshot is gone, or the connection
    // is) and so does the rollback after it. That is a lost connection, retried, not a failed export.
    if (kind === 'postgres')
      it('a connection lost right after a failed snapshot join is a transient failure; on a live one the snapshot is lost', async () => {
        await withCuttingProxy(async (adapter, cut) => {
          // a well-formed id of no snapshot: the join fails as it does once the exporting transaction ended
          const reader = adapter.adoptSnapshot!('00000003-0000228F-1');
          const readAll = async (): Promise<number> => {
            let n = 0;
            for await (const _ of reader.stream({ table: 'visit' }, { batchSize: 100 })) n++;
            return n;
          };
          cut.arm((type) => type === 'E'); // the join's error arrives, then the connection ends
          const first = await readAll().catch((err: unknown) => err as Error & { transient?: boolean });
          expect(cut.cuts).toBe(1);
          expect(first).toMatchObject({ transient: true, message: expect.stringMatching(/connection terminated/i) });
          expect(isSnapshotLost(first)).toBe(false);
          // the retry, on a fresh connection: the snapshot is gone, which the coordinator handles (a new round)
          const second = await readAll().catch((err: unknown) => err);
          expect(isSnapshotLost(second)).toBe(true);
        });
      });
  });
}

/**
 * A TCP proxy to PostgreSQL that, once armed, passes the server's messages up to the next one `cutAfter`
 * picks (its type, and its tag for CommandComplete) and then cuts that connection, as a kill landing just
 * there would: before the ReadyForQuery that follows.
 */
async function cuttingProxy(target: { host: string; port: number }) {
  let cutAfter: ((type: string, tag: string) => boolean) | undefined;
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    // the server's side is typed messages from the start (no SSL): 1 byte type, 4 bytes length (itself included)
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let end = 0;
      while (pending.length - end >= 5) {
        const size = 1 + pending.readUInt32BE(end + 1);
        if (pending.length - end < size) break;
        const type = String.fromCharCode(pending[end]!);
        const tag = type === 'C' ? pending.subarray(end + 5, end + size - 1).toString('latin1') : '';
        end += size;
        if (cutAfter?.(type, tag)) {
          cutAfter = undefined;
          cuts++;
          client.end(pending.subarray(0, end)); // what came so far, then the end (flushed first, unlike destroy)
          upstream.destroy();
          return;
        }
      }
      if (end > 0) client.write(pending.subarray(0, end));
      pending = pending.subarray(end);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: (when: (type: string, tag: string) => boolean) => {
      cutAfter = when;
    },
    get cuts() {
      return cuts;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
