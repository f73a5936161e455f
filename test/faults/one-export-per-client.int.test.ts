// Issue 8 item 4: "one export per client" must be atomic. 50 concurrent Group kick-offs of one SMART client
// → exactly one 202 and 49 × 429 (OperationOutcome, Retry-After), with the SQLite store and with the
// PostgreSQL store on the real server (where the kick-offs race on several pool connections).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ClientRegistry } from '../../src/http/auth/client-registry.js';
import type { JobStore } from '../../src/jobs/job-store.js';
import { PostgresJobStore } from '../../src/jobs/job-store-postgres.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { testDatabase, type TestDatabase } from '../support/databases.js';
import { makeTestClient, signAssertion, tokenRequestBody } from '../support/test-clients.js';
import { fakeServer } from '../support/test-server.js';

const db = await testDatabase('postgres');
const dirs: string[] = [];

async function fiftyKickoffs(makeStore: (dir: string) => JobStore) {
  const client = await makeTestClient('busy-client', 'ES384');
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-one-per-client-'));
  dirs.push(dir);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const server = await fakeServer({
    dataDir: dir,
    store: makeStore(dir),
    auth: { mode: 'smart', clients: new ClientRegistry([{ id: client.id, jwks: { keys: [client.publicJwk] }, scope: 'system/*.read' }]) },
    control: { gate },
  });
  try {
    const tokenRes = await server.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'localhost:80' },
      payload: tokenRequestBody(await signAssertion(client, 'http://localhost:80/auth/token'), 'system/*.read'),
    });
    expect(tokenRes.statusCode, tokenRes.body).toBe(200);
    const headers = {
      authorization: `Bearer ${tokenRes.json<{ access_token: string }>().access_token}`,
      accept: 'application/fhir+json',
      prefer: 'respond-async',
      host: 'localhost:80',
    };
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => server.app.inject({ method: 'GET', url: '/fhir/Group/panel-a/$export', headers })),
    );
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes.filter((c) => c === 202).length).toBe(1);
    expect(codes.filter((c) => c === 429).length).toBe(49);
    const busy = answers.find((a) => a.statusCode === 429)!;
    expect(busy.headers['retry-after']).toBeTruthy();
    expect(busy.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    expect((await server.store.active(client.id)).length).toBe(1);
    release();
    await server.runner.idle();
    const accepted = answers.find((a) => a.statusCode === 202)!;
    const status = await server.app.inject({ method: 'GET', url: new URL(String(accepted.headers['content-location'])).pathname, headers });
    expect(status.statusCode).toBe(200);
  } finally {
    release();
    await server.close();
  }
}

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('SQLite job store: 50 concurrent kick-offs of one client → one 202, 49 × 429', async () => {
  await fiftyKickoffs((dir) => new SqliteJobStore(join(dir, 'jobs.sqlite')));
});

describe.skipIf('skip' in db)('PostgreSQL job store', () => {
  const database = db as TestDatabase;
  const schema = `${database.schema}_busy`;
  afterAll(async () => {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    await database.cleanup();
  });

  it('50 concurrent kick-offs of one client → one 202, 49 × 429', async () => {
    await fiftyKickoffs(() => new PostgresJobStore({ connectionString: database.url, schema, poolSize: 10 }));
  });
});

if ('skip' in db) it.skip(`PostgreSQL job store: ${(db as { skip: string }).skip}`, () => undefined);
