// Backend-service clients for tests and for trying the server by hand: a key pair, its public JWKS, and
// signed client assertions (RS384 or ES384) the way a SMART client makes them.
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export interface TestClient {
  id: string;
  alg: 'RS384' | 'ES384';
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeTestClient(id: string, alg: 'RS384' | 'ES384' = 'RS384'): Promise<TestClient> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${id}-${alg}-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { id, alg, kid, privateKey, publicJwk };
}

export interface AssertionOverrides {
  iss?: string;
  sub?: string;
  aud?: string;
  /** seconds from now */
  expiresIn?: number;
  jti?: string;
  jku?: string;
  kid?: string;
  omit?: Array<'exp' | 'jti'>;
}

export async function signAssertion(client: TestClient, tokenUrl: string, o: AssertionOverrides = {}): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: client.alg, kid: o.kid ?? client.kid, typ: 'JWT', ...(o.jku ? { jku: o.jku } : {}) })
    .setIssuer(o.iss ?? client.id)
    .setSubject(o.sub ?? client.id)
    .setAudience(o.aud ?? tokenUrl);
  if (!o.omit?.includes('exp')) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 240));
  if (!o.omit?.includes('jti')) jwt.setJti(o.jti ?? randomUUID());
  return jwt.sign(client.privateKey);
}

/** The form body of a client_credentials token request. */
export function tokenRequestBody(assertion: string, scope: string): string {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  }).toString();
}
