// Client keys: a fetched JWKS is read up to a size cap, and private key material (an RSA key's d, or its
// CRT values p/q/dp/dq/qi without d) is refused, inline at registration and in a fetched JWKS. The real
// server (buildServer, SMART mode) through app.inject, its JWKS fetched from a local HTTP server.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestClient, signAssertion, tokenRequestBody, type TestClient } from '../../test/support/test-clients.js';
import { fakeServer } from '../../test/support/test-server.js';
import { ClientConfigError, ClientRegistry } from './auth/client-registry.js';
import { MAX_JWKS_BYTES } from './auth/jwks-fetcher.js';

const BASE = 'http://bulk.test';
const TOKEN_URL = `${BASE}/auth/token`;
let jwksServer: HttpServer;
let jwksBase: string;
let server: Awaited<ReturnType<typeof fakeServer>>;
let big: TestClient;
let bigChunked: TestClient;
let leaky: TestClient;
let fine: TestClient;
let crtOnly: JWK;
let bytesSent = 0;

beforeAll(async () => {
  [big, bigChunked, leaky, fine] = await Promise.all([
    makeTestClient('big', 'ES384'),
    makeTestClient('big-chunked', 'ES384'),
    makeTestClient('leaky', 'RS384'),
    makeTestClient('fine', 'ES384'),
  ]);
  // the RSA private key's CRT members without d: still the private key (p and q alone give it away)
  const { d: _d, ...rest } = await exportJWK(leaky.privateKey);
  crtOnly = { ...rest, kid: leaky.kid, alg: 'RS384', use: 'sig' };
  const padding = (n: number) => ({ kty: 'oct', kid: 'padding', use: 'enc', x: 'A'.repeat(n) });
  jwksServer = createServer((req, res) => {
    if (req.url === '/big.json') {
      const body = JSON.stringify({ keys: [big.publicJwk, padding(MAX_JWKS_BYTES)] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    } else if (req.url === '/chunked.json') {
      // no Content-Length: a stream that would go on for 100 MB
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"keys":[${JSON.stringify(bigChunked.publicJwk)},{"kty":"oct","kid":"padding","x":"`);
      const chunk = 'A'.repeat(16 * 1024);
      let left = 6400;
      const more = () => {
        while (left > 0) {
          left--;
          bytesSent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('"}]}');
      };
      res.on('close', () => {
        left = 0;
      });
      more();
    } else if (req.url === '/leaky.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [crtOnly] }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [fine.publicJwk] }));
    }
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
  const clients = new ClientRegistry([
    { id: big.id, jwksUrl: `${jwksBase}/big.json`, scope: 'system/*.read' },
    { id: bigChunked.id, jwksUrl: `${jwksBase}/chunked.json`, scope: 'system/*.read' },
    { id: leaky.id, jwksUrl: `${jwksBase}/leaky.json`, scope: 'system/*.read' },
    { id: fine.id, jwksUrl: `${jwksBase}/fine.json`, scope: 'system/*.read' },
  ]);
  server = await fakeServer({ auth: { mode: 'smart', clients }, baseUrl: BASE });
});
afterAll(async () => {
  await server?.close();
  jwksServer?.closeAllConnections();
  await new Promise((r) => jwksServer?.close(r));
});

async function mint(client: TestClient) {
  return server.app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: tokenRequestBody(await signAssertion(client, TOKEN_URL), 'system/*.read'),
  });
}

describe('fetched JWKS', () => {
  it(`refuses a JWKS larger than ${MAX_JWKS_BYTES} bytes, announced or streamed, and stops reading it`, async () => {
    for (const client of [big, bigChunked]) {
      const res = await mint(client);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'invalid_client' });
      expect(res.json().error_description).toContain(`larger than ${MAX_JWKS_BYTES} bytes`);
    }
    expect(bytesSent).toBeLessThan(100 * 1024 * 1024);
    expect((await mint(fine)).statusCode).toBe(200);
  });

  it('refuses a fetched JWKS that publishes an RSA private key given by its CRT members without d', async () => {
    expect(crtOnly).not.toHaveProperty('d');
    const res = await mint(leaky);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect(res.json().error_description).toContain('private key material (p, q, dp, dq, qi');
  });
});

describe('registered JWKS', () => {
  it('refuses an inline RSA key with p/q/dp/dq/qi but no d, as it refuses one with d', async () => {
    const register = (key: JWK) => () => new ClientRegistry([{ id: 'x', jwks: { keys: [key] }, scope: 'system/*.read' }]);
    expect(register(crtOnly)).toThrow(ClientConfigError);
    expect(register(crtOnly)).toThrow(/PRIVATE key material \(p, q, dp, dq, qi\)/);
    expect(register({ ...crtOnly, d: 'x' })).toThrow(/PRIVATE key material \(d, p/);
    expect(register(leaky.publicJwk)).not.toThrow();
  });
});
