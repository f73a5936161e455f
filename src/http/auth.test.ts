// SMART backend services over real HTTP: token endpoint (RS384 and ES384 assertions, inline JWKS and JWKS
// URL with jku), every rejection path, and what a token lets a client do with exports.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaValidator } from '../fhir/schema-validator.js';
import { ClientRegistry } from './auth/client-registry.js';
import {
  makeTestClient,
  signAssertion,
  tokenRequestBody,
  type AssertionOverrides,
  type TestClient,
} from '../../test/support/test-clients.js';
import { fakeServer } from '../../test/support/test-server.js';
import type { ExportManifest } from '../jobs/types.js';

let server: Awaited<ReturnType<typeof fakeServer>>;
let jwksServer: HttpServer;
let base: string;
let tokenUrl: string;
let rs: TestClient;
let es: TestClient;
let narrow: TestClient;
let release!: () => void;
const control: { gate?: Promise<void> } = {};
let jwksHits = 0;

beforeAll(async () => {
  rs = await makeTestClient('rs-client', 'RS384');
  es = await makeTestClient('es-client', 'ES384');
  narrow = await makeTestClient('patients-only', 'ES384');
  jwksServer = createServer((_req, res) => {
    jwksHits++;
    res
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' })
      .end(JSON.stringify({ keys: [es.publicJwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  const clients = new ClientRegistry([
    { id: rs.id, jwks: { keys: [rs.publicJwk] }, scope: 'system/*.read' },
    { id: es.id, jwksUrl, scope: 'system/*.rs' },
    { id: narrow.id, jwks: { keys: [narrow.publicJwk] }, scope: 'system/Patient.rs' },
  ]);
  server = await fakeServer({ auth: { mode: 'smart', clients }, control });
  base = await server.listen(0, '127.0.0.1');
  tokenUrl = `${base}/auth/token`;
});

afterAll(async () => {
  await server?.close();
  await new Promise((r) => jwksServer?.close(r));
});

async function requestToken(client: TestClient, scope: string, o: AssertionOverrides = {}) {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenRequestBody(await signAssertion(client, tokenUrl, o), scope),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, string | number> };
}

async function token(client: TestClient, scope = 'system/*.read'): Promise<string> {
  const r = await requestToken(client, scope);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return String(r.body.access_token);
}

const auth = (t: string) => ({ authorization: `Bearer ${t}`, accept: 'application/fhir+json', prefer: 'respond-async' });

async function waitDone(statusUrl: string, t: string): Promise<Response> {
  for (;;) {
    const res = await fetch(statusUrl, { headers: auth(t) });
    if (res.status !== 202) return res;
    await server.runner.idle();
  }
}

describe('SMART backend services', () => {
  it('advertises the token endpoint in smart-configuration and the CapabilityStatement', async () => {
    const conf = (await (await fetch(`${base}/fhir/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
    expect(conf).toMatchObject({
      token_endpoint: tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
    });
    expect(conf.scopes_supported).toEqual(expect.arrayContaining(['system/*.read', 'system/*.rs']));
    expect(conf.capabilities).toEqual(expect.arrayContaining(['client-confidential-asymmetric', 'permission-v2']));
    const cs = (await (await fetch(`${base}/fhir/metadata`)).json()) as {
      rest: Array<{ security: { extension: Array<{ extension: Array<{ valueUri: string }> }> } }>;
    };
    expect(schemaValidator().validate(cs)).toEqual([]);
    expect(cs.rest[0]!.security.extension[0]!.extension[0]!.valueUri).toBe(tokenUrl);
  });

  it('issues a short-lived bearer token for an RS384 assertion (inline JWKS)', async () => {
    const r = await requestToken(rs, 'system/*.read');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'bearer', scope: 'system/*.read' });
    expect(Number(r.body.expires_in)).toBeLessThanOrEqual(300);
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('issues a token for an ES384 assertion through the JWKS URL, with or without a matching jku, and caches the JWKS', async () => {
    const before = jwksHits;
    expect((await requestToken(es, 'system/*.rs')).status).toBe(200);
    const jku = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    expect((await requestToken(es, 'system/*.rs', { jku })).status).toBe(200);
    expect(jwksHits - before).toBeLessThanOrEqual(1);
    const wrong = await requestToken(es, 'system/*.rs', { jku: 'http://127.0.0.1:1/other.json' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ error: 'invalid_client' });
    expect(wrong.body.error_description).toContain('jku');
  });

  it('rejects expired, too-long-lived and jti-less assertions', async () => {
    for (const [o, words] of [
      [{ expiresIn: -120 }, 'exp'],
      [{ expiresIn: 900 }, 'five minutes'],
      [{ omit: ['jti'] }, 'jti'],
    ] as Array<[AssertionOverrides, string]>) {
      const r = await requestToken(rs, 'system/*.read', o);
      expect(r.status, words).toBe(401);
      expect(r.body.error).toBe('invalid_client');
      expect(String(r.body.error_description)).toContain(words);
    }
  });

  it('rejects a replayed jti', async () => {
    const first = await requestToken(rs, 'system/*.read', { jti: 'once-only' });
    expect(first.status).toBe(200);
    const again = await requestToken(rs, 'system/*.read', { jti: 'once-only' });
    expect(again.status).toBe(401);
    expect(again.body.error_description).toContain('replay');
  });

  it('rejects a wrong aud, an unknown client, a wrong key and iss/sub mismatch', async () => {
    const aud = await requestToken(rs, 'system/*.read', { aud: 'https://elsewhere.example/token' });
    expect(aud.status).toBe(401);
    expect(aud.body.error_description).toContain('aud');
    expect((await requestToken(rs, 'system/*.read', { iss: 'nobody', sub: 'nobody' })).body.error_description).toContain('unknown client');
    const impostor = await makeTestClient('rs-client', 'RS384');
    expect((await requestToken(impostor, 'system/*.read', { kid: rs.kid })).status).toBe(401);
    expect((await requestToken(rs, 'system/*.read', { sub: 'someone-else' })).status).toBe(401);
  });

  it('grants only pre-authorized scopes: none is invalid_scope, some is a narrower token', async () => {
    const none = await requestToken(narrow, 'system/*.read');
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('invalid_scope');
    const some = await requestToken(narrow, 'system/Patient.rs system/Observation.rs');
    expect(some.status).toBe(200);
    expect(some.body.scope).toBe('system/Patient.rs');
  });

  it('requires a valid token on kick-off, status and files; 401 answers are OperationOutcomes', async () => {
    const missing = await fetch(`${base}/fhir/$export`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect(((await missing.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    expect((await fetch(`${base}/fhir/$export`, { headers: auth('not-a-token') })).status).toBe(401);

    const t = await token(rs);
    const kick = await fetch(`${base}/fhir/$export?_type=Patient`, { headers: auth(t) });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers.get('content-location')!;
    expect((await fetch(statusUrl)).status).toBe(401);
    const done = await waitDone(statusUrl, t);
    const manifest = (await done.json()) as ExportManifest;
    expect(manifest.requiresAccessToken).toBe(true);
    const fileUrl = manifest.output[0]!.url;
    expect((await fetch(fileUrl)).status).toBe(401);
    const file = await fetch(fileUrl, { headers: { authorization: `Bearer ${t}` } });
    expect(file.status).toBe(200);
    expect((await file.text()).trim().split('\n')).toHaveLength(3);
  });

  it('limits exports to the types the scopes allow', async () => {
    const t = await token(narrow, 'system/Patient.rs');
    const forbidden = await fetch(`${base}/fhir/$export?_type=Observation`, { headers: auth(t) });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { issue: Array<{ code: string }> }).issue[0]!.code).toBe('forbidden');
    const kick = await fetch(`${base}/fhir/$export`, { headers: auth(t) });
    expect(kick.status).toBe(202);
    const manifest = (await (await waitDone(kick.headers.get('content-location')!, t)).json()) as ExportManifest;
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
  });

  it("hides one client's jobs from another, and answers 429 to a second kick-off while one runs", async () => {
    control.gate = new Promise<void>((r) => (release = r));
    const mine = await token(rs);
    const theirs = await token(es, 'system/*.rs');
    const kick = await fetch(`${base}/fhir/$export`, { headers: auth(mine) });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers.get('content-location')!;
    const again = await fetch(`${base}/fhir/Patient/$export`, { headers: auth(mine) });
    expect(again.status).toBe(429);
    expect(again.headers.get('retry-after')).toBeTruthy();
    expect((await fetch(statusUrl, { headers: auth(theirs) })).status).toBe(404);
    expect((await fetch(statusUrl, { method: 'DELETE', headers: auth(theirs) })).status).toBe(404);
    release();
    delete control.gate;
    const done = await waitDone(statusUrl, mine);
    expect(done.status).toBe(200);
    const manifest = (await done.json()) as ExportManifest;
    expect((await fetch(manifest.output[0]!.url, { headers: { authorization: `Bearer ${theirs}` } })).status).toBe(404);
  });
});
