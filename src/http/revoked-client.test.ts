// Issue 8, item 5: `fhir-bridge clients remove` while the server runs. The client's access tokens stop
// working at once and it cannot mint new ones; no restart needed. The real server (buildServer, SMART
// mode, registry loaded from its file as `serve` does) through app.inject, the real CLI in-process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestClient, signAssertion, tokenRequestBody, type TestClient } from '../../test/support/test-clients.js';
import { fakeServer } from '../../test/support/test-server.js';
import { memoryIo } from '../cli/io.js';
import { buildProgram } from '../cli/main.js';
import { ClientRegistry } from './auth/client-registry.js';

const BASE = 'http://bulk.test';
const TOKEN_URL = `${BASE}/auth/token`;
let dir: string;
let file: string;
let server: Awaited<ReturnType<typeof fakeServer>>;
let leaving: TestClient;
let staying: TestClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-revoke-'));
  file = join(dir, 'clients.json');
  leaving = await makeTestClient('leaving', 'ES384');
  staying = await makeTestClient('staying', 'RS384');
  await new ClientRegistry([
    { id: leaving.id, jwks: { keys: [leaving.publicJwk] }, scope: 'system/*.read' },
    { id: staying.id, jwks: { keys: [staying.publicJwk] }, scope: 'system/*.read' },
  ]).save(file);
  server = await fakeServer({ auth: { mode: 'smart', clients: await ClientRegistry.load(file) }, baseUrl: BASE, dataDir: dir });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function mint(client: TestClient) {
  return server.app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: tokenRequestBody(await signAssertion(client, TOKEN_URL), 'system/*.read'),
  });
}

async function cli(...args: string[]): Promise<number> {
  const program = await buildProgram({ io: () => memoryIo() });
  program.exitOverride();
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'fhir-bridge', ...args]);
    return Number(process.exitCode ?? 0);
  } finally {
    process.exitCode = before;
  }
}

const kickoff = (token: string) =>
  server.app.inject({
    method: 'GET',
    url: '/fhir/$export?_type=Patient',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', prefer: 'respond-async' },
  });

describe('a client removed while the server runs', () => {
  it('loses its tokens and cannot mint new ones; other clients are unaffected', async () => {
    const before = await mint(leaving);
    expect(before.statusCode, before.body).toBe(200);
    const token = before.json().access_token as string;
    const running = await kickoff(token);
    expect(running.statusCode).toBe(202);
    const status = new URL(running.headers['content-location'] as string).pathname;
    await server.runner.idle();
    expect((await server.app.inject({ method: 'GET', url: status, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

    expect(await cli('clients', 'remove', '--clients', file, '--id', leaving.id)).toBe(0);

    const poll = await server.app.inject({ method: 'GET', url: status, headers: { authorization: `Bearer ${token}` } });
    expect(poll.statusCode).toBe(401);
    expect(poll.headers['www-authenticate']).toContain('invalid_token');
    expect(poll.json().issue[0].diagnostics).toContain('no longer registered');
    expect((await kickoff(token)).statusCode).toBe(401);
    const again = await mint(leaving);
    expect(again.statusCode).toBe(401);
    expect(again.json()).toMatchObject({ error: 'invalid_client' });

    const other = await mint(staying);
    expect(other.statusCode).toBe(200);
    const otherToken = other.json().access_token as string;
    expect((await kickoff(otherToken)).statusCode).toBe(202);
    await server.runner.idle();

    // a registration narrowed while a token lives narrows that token too
    const registry = await ClientRegistry.load(file);
    registry.add({ ...registry.get(staying.id)!, scope: 'system/Observation.rs' });
    await registry.save(file);
    const narrowed = await kickoff(otherToken);
    expect(narrowed.statusCode).toBe(403);
    expect(narrowed.json().issue[0].diagnostics).toContain('Patient');
  });
});
