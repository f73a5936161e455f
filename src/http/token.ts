// Token endpoint: POST /auth/token.
// SMART Backend Services (SMART App Launch 2.0.0, https://hl7.org/fhir/smart-app-launch/STU2/backend-services.html,
// "Obtain access token"): a client_credentials grant authenticated by a signed JWT assertion
// (private_key_jwt) becomes a short-lived bearer token with the granted system scopes. Errors here are
// OAuth JSON errors ({ error, error_description }), not OperationOutcomes (see OAuthError in app.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { AccessTokens } from './auth/access-token.js';
import { ASSERTION_TYPE, verifyClientAssertion, type ReplayCache } from './auth/client-assertion.js';
import type { ClientRegistry } from './auth/client-registry.js';
import type { JwksFetcher } from './auth/jwks-fetcher.js';
import { OAuthError } from './auth/oauth-error.js';
import { grantScopes, parseScope, splitScopes } from './auth/scopes.js';
import type { RequestContext } from './request-context.js';
import { schemaValidator } from '../fhir/schema-validator.js';

export interface TokenOptions {
  context: RequestContext;
  /** undefined in open mode: every token request is refused */
  smart?: { clients: ClientRegistry; tokens: AccessTokens; jwks: JwksFetcher; replay: ReplayCache };
  /** the FHIR R4 resource types (a scope naming another is invalid_scope); default: those of the R4 schema */
  knownTypes?: ReadonlySet<string>;
}

export const tokenRoutes: FastifyPluginAsync<TokenOptions> = async (app, { context, smart, knownTypes }) => {
  // This plugin's own error handler (fastify scopes it to these routes): RFC 6749 §5.2 wants every error
  // of the token endpoint as OAuth JSON, including those fastify raises before the handler runs (an
  // empty or malformed JSON body, an unsupported media type, a body too large): those are the client's
  // malformed request, so `invalid_request`. Anything else (a 5xx) goes on to the server's handler.
  app.setErrorHandler((err: unknown, _request, reply) => {
    const status = (err as { statusCode?: number }).statusCode;
    const oauth =
      err instanceof OAuthError
        ? err
        : status !== undefined && status >= 400 && status < 500
          ? new OAuthError('invalid_request', `POST the token request as application/x-www-form-urlencoded (${(err as Error).message})`)
          : undefined;
    if (!oauth) throw err;
    return reply.code(oauth.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(oauth.toJSON());
  });

  app.post('/auth/token', async (request, reply) => {
    if (!smart) throw new OAuthError('unauthorized_client', 'this server runs in open mode and issues no tokens');
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || !request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      throw new OAuthError('invalid_request', 'POST the token request as application/x-www-form-urlencoded');
    }
    if (body.grant_type !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials');
    if (body.client_assertion_type !== ASSERTION_TYPE)
      throw new OAuthError('invalid_client', `client_assertion_type must be ${ASSERTION_TYPE}`);
    if (typeof body.client_assertion !== 'string') throw new OAuthError('invalid_client', 'client_assertion is required');
    if (typeof body.scope !== 'string' || !body.scope.trim())
      throw new OAuthError('invalid_scope', 'scope is required, e.g. system/*.read');
    await smart.clients.refresh(); // a client removed from the registry file gets no new token
    const client = await verifyClientAssertion(
      body.client_assertion,
      { tokenUrl: context.tokenUrl(request), clients: smart.clients, jwks: smart.jwks, replay: smart.replay },
      typeof body.client_id === 'string' ? body.client_id : undefined,
    );
    // A scope for a resource type FHIR R4 does not have is not a narrower grant but a mistake; RFC 6749
    // §5.2: invalid_scope is "the requested scope is invalid, unknown, or malformed".
    const types = knownTypes ?? schemaValidator().resourceTypes;
    const unknownType = splitScopes(body.scope).find((raw) => {
      const type = parseScope(raw)?.type;
      return type !== undefined && type !== '*' && !types.has(type);
    });
    if (unknownType) throw new OAuthError('invalid_scope', `scope "${unknownType}" names a resource type FHIR R4 does not have`);
    const granted = grantScopes(splitScopes(body.scope), splitScopes(client.scope));
    if (granted.length === 0) {
      throw new OAuthError(
        'invalid_scope',
        `none of the requested scopes (${body.scope}) is allowed for ${client.id} (registered: ${client.scope}); this server grants system/<Type|*>.read and .rs-style scopes`,
      );
    }
    const accessToken = await smart.tokens.issue({ clientId: client.id, scopes: granted });
    request.log.info({ client: client.id, scope: granted.join(' ') }, 'access token issued');
    return reply
      .header('Cache-Control', 'no-store')
      .header('Pragma', 'no-cache')
      .send({ access_token: accessToken, token_type: 'bearer', expires_in: smart.tokens.lifetimeSeconds, scope: granted.join(' ') });
  });
};
