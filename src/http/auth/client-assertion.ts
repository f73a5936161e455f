// Verifies the client's authentication JWT (SMART App Launch 2.0.0, client-confidential-asymmetric.html
// and backend-services.html): RS384 or ES384; iss = sub = a registered client_id; aud = our token URL;
// exp present and at most five minutes ahead; jti never seen before for that iss within the assertion
// lifetime; the key found by the SMART algorithm: the `jku` header, when present, must equal the
// registered JWKS URL; else the registered JWKS (inline or URL); then exactly one key with the header's
// `kid` and a `kty` matching the algorithm. Every failure is an `invalid_client` OAuthError.
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { privateMembers, type ClientRegistry, type RegisteredClient } from './client-registry.js';
import type { JwksFetcher } from './jwks-fetcher.js';
import { OAuthError } from './oauth-error.js';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const SIGNING_ALGORITHMS = ['RS384', 'ES384'] as const;
const MAX_LIFETIME_S = 300;
/** tolerated clock difference between client and server */
const CLOCK_SKEW_S = 10;

/** jti values seen per client, kept until their assertion would have expired anyway */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  /** false when this (iss, jti) was already used */
  remember(iss: string, jti: string, expSeconds: number, nowSeconds = Date.now() / 1000): boolean {
    for (const [k, exp] of this.seen) if (exp + CLOCK_SKEW_S < nowSeconds) this.seen.delete(k);
    const key = `${iss}\n${jti}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, expSeconds);
    return true;
  }
}

export interface AssertionContext {
  tokenUrl: string;
  clients: ClientRegistry;
  jwks: JwksFetcher;
  replay: ReplayCache;
}

export async function verifyClientAssertion(assertion: string, ctx: AssertionContext, clientIdParam?: string): Promise<RegisteredClient> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    unverified = decodeJwt(assertion);
  } catch (e) {
    throw new OAuthError('invalid_client', `client_assertion is not a signed JWT: ${(e as Error).message}`);
  }
  const alg = header.alg ?? '';
  if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new OAuthError('invalid_client', `client_assertion alg "${alg}" is not accepted (use ${SIGNING_ALGORITHMS.join(' or ')})`);
  }
  if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT')
    throw new OAuthError('invalid_client', `client_assertion typ must be "JWT"`);
  if (!header.kid) throw new OAuthError('invalid_client', 'client_assertion header has no "kid"');
  const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
  const client = ctx.clients.get(iss);
  if (!client) throw new OAuthError('invalid_client', `unknown client "${iss}" (the assertion's iss must be a registered client_id)`);
  if (clientIdParam !== undefined && clientIdParam !== iss)
    throw new OAuthError('invalid_client', 'client_id does not match the assertion iss');

  const keys = await candidateKeys(client, header.jku, ctx.jwks);
  const kty = alg.startsWith('RS') ? 'RSA' : 'EC';
  const matching = keys.filter((k) => k.kid === header.kid && k.kty === kty);
  if (matching.length !== 1) {
    throw new OAuthError(
      'invalid_client',
      matching.length === 0 ? `no ${kty} key with kid "${header.kid}" is registered for ${iss}` : `several keys have kid "${header.kid}"`,
    );
  }

  let payload: JWTPayload;
  try {
    const key = await importJWK(matching[0]!, alg);
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [alg],
      issuer: client.id,
      subject: client.id,
      audience: ctx.tokenUrl,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      clockTolerance: CLOCK_SKEW_S,
    }));
  } catch (e) {
    throw new OAuthError('invalid_client', `client_assertion rejected: ${(e as Error).message}`, { cause: e });
  }
  const now = Math.floor(Date.now() / 1000);
  if (payload.exp! > now + MAX_LIFETIME_S + CLOCK_SKEW_S) {
    throw new OAuthError('invalid_client', 'client_assertion exp is more than five minutes in the future');
  }
  if (typeof payload.jti !== 'string' || !payload.jti) throw new OAuthError('invalid_client', 'client_assertion has no jti');
  if (!ctx.replay.remember(client.id, payload.jti, payload.exp!, now)) {
    throw new OAuthError('invalid_client', `client_assertion jti "${payload.jti}" was already used (replay)`);
  }
  return client;
}

async function candidateKeys(client: RegisteredClient, jku: string | undefined, fetcher: JwksFetcher): Promise<JWK[]> {
  if (jku !== undefined && jku !== client.jwksUrl) {
    throw new OAuthError('invalid_client', `jku "${jku}" does not match the JWKS URL registered for ${client.id}`);
  }
  if (client.jwks) return client.jwks.keys;
  let keys: JWK[];
  try {
    keys = (await fetcher.get(client.jwksUrl!)).keys;
  } catch (e) {
    throw new OAuthError('invalid_client', `cannot fetch the JWKS of ${client.id}: ${(e as Error).message}`, { cause: e });
  }
  // A JWKS that publishes private key material is compromised (anyone who fetched it can sign as the
  // client): refuse it, as registration refuses inline private keys.
  const leaked = keys.find((k) => privateMembers(k).length > 0);
  if (leaked) {
    throw new OAuthError(
      'invalid_client',
      `the JWKS of ${client.id} publishes private key material (${privateMembers(leaked).join(', ')} of kid "${leaked.kid ?? ''}")`,
    );
  }
  return keys;
}
