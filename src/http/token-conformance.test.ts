// The token endpoint as SMART Backend Services and RFC 6749 §5.2 say: every error is OAuth JSON
// ({ error, error_description }, Cache-Control: no-store), also for bodies fastify cannot parse, and a
// scope naming a resource type FHIR R4 does not have is invalid_scope. The real server through app.inject.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestClient, signAssertion, tokenRequestBody, type TestClient } from '../../test/support/test-clients.js';
import { fakeServer } from '../../test/support/test-server.js';
import { ClientRegistry } from './auth/client-registry.js';

const BASE = 'http://bulk.test';
const TOKEN_URL = `${BASE}/auth/token`;
let server: Awaited<ReturnType<typeof fakeServer>>;
let client: TestClient;

beforeAll(async () => {
  client = await makeTestClient('scoped', 'ES384');
  const clients = new ClientRegistry([{ id: client.id, jwks: { keys: [client.publicJwk] }, scope: 'system/*.read' }]);
  server = await fakeServer({ auth: { mode: 'smart', clients }, baseUrl: BASE });
});
afterAll(async () => {
  await server?.close();
});

async function post(contentType: string | undefined, payload: string) {
  return server.app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    payload,
  });
}

function expectOAuthError(res: Awaited<ReturnType<typeof post>>, error: string, status = 400) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toContain('application/json');
  expect(res.headers['cache-control']).toBe('no-store');
  const body = res.json();
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
}

describe('token endpoint errors', () => {
  it('answers a POST that is not application/x-www-form-urlencoded with invalid_request JSON, whatever the body', async () => {
    const form = tokenRequestBody(await signAssertion(client, TOKEN_URL), 'system/*.read');
    expectOAuthError(await post('application/json', ''), 'invalid_request');
    expectOAuthError(await post('application/json', '{'), 'invalid_request');
    expectOAuthError(await post('application/json', JSON.stringify(Object.fromEntries(new URLSearchParams(form)))), 'invalid_request');
    expectOAuthError(await post('text/plain', form), 'invalid_request');
    expectOAuthError(await post('application/xml', '<token/>'), 'invalid_request');
    expectOAuthError(await post(undefined, form), 'invalid_request');
    // the same assertion, sent as a form, is fine (the rejections above did not consume its jti)
    expect((await post('application/x-www-form-urlencoded', form)).statusCode).toBe(200);
  });

  it('answers a scope naming a resource type FHIR R4 does not have with invalid_scope', async () => {
    for (const scope of ['system/UnknownResource.read', 'system/Patient.read system/UnknownResource.rs', 'system/Patients.read']) {
      const res = await post('application/x-www-form-urlencoded', tokenRequestBody(await signAssertion(client, TOKEN_URL), scope));
      expectOAuthError(res, 'invalid_scope');
      expect(res.json().error_description).toContain('FHIR R4 does not have');
    }
    const ok = await post(
      'application/x-www-form-urlencoded',
      tokenRequestBody(await signAssertion(client, TOKEN_URL), 'system/Patient.read'),
    );
    expect(ok.statusCode).toBe(200);
    expect(ok.json().scope).toBe('system/Patient.read');
  });
});
