// What every route of the edge needs to know about a request: the public base URL it was sent to (the
// URLs we hand out must be the ones the client can reach), who sent it (the access token's claims), and
// which export job it may see. One module so that "another client's job is a 404" is decided in one place.
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import type { JobStore } from '../jobs/job-store.js';
import type { ExportJob } from '../jobs/types.js';
import type { AccessTokens, TokenClaims } from './auth/access-token.js';

/** Content-Type of every FHIR JSON answer (resources and OperationOutcomes). */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export interface RequestContext {
  /** the server's public origin, without a trailing slash */
  base(request: FastifyRequest): string;
  fhirBase(request: FastifyRequest): string;
  tokenUrl(request: FastifyRequest): string;
  /** The token's claims; in open mode undefined. */
  authenticate(request: FastifyRequest): Promise<TokenClaims | undefined>;
  /** A job the caller may see (unknown, cancelled, expired and other clients' jobs are all 404). */
  visibleJob(request: FastifyRequest, id: string): Promise<ExportJob>;
}

export interface RequestContextOptions {
  /** public origin, e.g. https://bulk.example.org (default: from each request's Host) */
  baseUrl?: string;
  /** undefined in open mode */
  tokens?: AccessTokens;
  store: JobStore;
}

export function requestContext({ baseUrl, tokens, store }: RequestContextOptions): RequestContext {
  const base = (request: FastifyRequest): string => (baseUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
  const authenticate = async (request: FastifyRequest): Promise<TokenClaims | undefined> => {
    if (!tokens) return undefined;
    return tokens.verify(request.headers.authorization);
  };
  return {
    base,
    fhirBase: (request) => `${base(request)}/fhir`,
    tokenUrl: (request) => `${base(request)}/auth/token`,
    authenticate,
    async visibleJob(request, id) {
      const claims = await authenticate(request);
      const job = await store.get(id);
      if (!job || (claims && job.clientId !== claims.clientId)) throw new HttpError(404, `no export job ${id}`, 'not-found');
      if (job.status === 'cancelled') throw new HttpError(404, `export job ${id} was cancelled`, 'not-found');
      if (job.status === 'expired') throw new HttpError(404, `export job ${id} has expired; its files were deleted`, 'not-found');
      return job;
    },
  };
}
