// Access tokens are short JWTs (HS256) signed with a per-server secret: they name the client and the
// granted scopes. Lifetime at most 300 s (SMART backend services). Given the client registry, a token is
// also checked against it (refreshed from its file): a client removed since the token was issued is 401
// at once, and one whose registered scope shrank keeps only what the registration still allows.
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { HttpError } from '../../errors.js';
import type { ClientRegistry } from './client-registry.js';
import { grantScopes, splitScopes } from './scopes.js';

export const MAX_TOKEN_LIFETIME_S = 300;
const ISSUER = 'fhir-bridge';

export interface TokenClaims {
  clientId: string;
  scopes: string[];
}

export class AccessTokens {
  private readonly secret: Uint8Array;
  readonly lifetimeSeconds: number;

  private readonly clients: ClientRegistry | undefined;

  constructor(options: { secret?: Uint8Array | string; lifetimeSeconds?: number; clients?: ClientRegistry } = {}) {
    this.clients = options.clients;
    const s = options.secret;
    this.secret = s === undefined ? randomBytes(32) : typeof s === 'string' ? new TextEncoder().encode(s) : s;
    if (this.secret.length < 32) throw new RangeError('the access token secret needs at least 32 bytes');
    this.lifetimeSeconds = Math.min(options.lifetimeSeconds ?? MAX_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S);
    if (!(this.lifetimeSeconds > 0)) throw new RangeError('the access token lifetime must be positive');
  }

  async issue(claims: TokenClaims): Promise<string> {
    return new SignJWT({ scope: claims.scopes.join(' ') })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(claims.clientId)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.lifetimeSeconds)
      .sign(this.secret);
  }

  /** Checks an `Authorization` header value; a missing or bad token is a 401 OperationOutcome. */
  async verify(authorization: string | undefined): Promise<TokenClaims> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const challenge = { 'WWW-Authenticate': 'Bearer realm="fhir-bridge"' };
    if (!m)
      throw new HttpError(401, 'an access token is required (Authorization: Bearer <token> from the token endpoint)', 'login', challenge);
    const invalid = (message: string) =>
      new HttpError(401, `invalid access token: ${message}`, 'login', {
        'WWW-Authenticate': 'Bearer realm="fhir-bridge", error="invalid_token"',
      });
    let claims: TokenClaims;
    try {
      const { payload } = await jwtVerify(m[1]!, this.secret, { algorithms: ['HS256'], issuer: ISSUER, requiredClaims: ['sub', 'exp'] });
      claims = { clientId: payload.sub!, scopes: splitScopes(String(payload.scope ?? '')) };
    } catch (e) {
      throw invalid((e as Error).message);
    }
    if (this.clients) {
      await this.clients.refresh();
      const client = this.clients.get(claims.clientId);
      if (!client) throw invalid(`client ${claims.clientId} is no longer registered`);
      claims.scopes = grantScopes(claims.scopes, splitScopes(client.scope));
    }
    return claims;
  }
}
