// The Bulk Data $export server (fastify): FHIR base at /fhir, job status at /jobs/:id, downloads at
// /files/:id/:name, SMART backend-services token endpoint at /auth/token. `buildServer` serves both the
// tests (app.inject) and `fhir-bridge serve` (listen). Every error at this edge is an OperationOutcome
// (the token endpoint answers OAuth JSON errors instead), produced by the one error handler below.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { OperationOutcome } from 'fhir/r4';
import type { ConnectorConfig, SourceAdapter } from '../connectors/types.js';
import { FhirBridgeError, HttpError, operationOutcome } from '../errors.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { schemaValidator } from '../fhir/schema-validator.js';
import { AccessTokens, type TokenClaims } from './auth/access-token.js';
import { ASSERTION_TYPE, ReplayCache, verifyClientAssertion } from './auth/client-assertion.js';
import type { ClientRegistry } from './auth/client-registry.js';
import { JwksFetcher } from './auth/jwks-fetcher.js';
import { OAuthError } from './auth/oauth-error.js';
import { canExport, grantScopes, splitScopes } from './auth/scopes.js';
import { capabilityStatement, smartConfiguration } from './capability-statement.js';
import { sendNdjsonFile } from './files.js';
import { GroupDirectory, parseGroups, type GroupDefinition } from '../groups/group-directory.js';
import { JobRunner, type JobExecutor } from '../jobs/runner.js';
import type { JobStore } from '../jobs/job-store.js';
import { isLenient, parseKickoffParams, ParameterProblems } from './kickoff/params.js';
import { exportableTypes, resolveKickoff } from './kickoff/resolve.js';
import { pipelineExecutor } from '../jobs/pipeline-executor.js';
import type { ExportJob, ExportLevel } from '../jobs/types.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export type AuthOptions =
  | { mode: 'open' }
  | {
      mode: 'smart';
      clients: ClientRegistry;
      /** HS256 secret for access tokens (default: random per process) */
      tokenSecret?: string | Uint8Array;
      /** at most 300 */
      tokenLifetimeSeconds?: number;
      jwksFetcher?: JwksFetcher;
    };

export interface ServerOptions {
  source: { adapter: SourceAdapter; mappings: CompiledMappingSet; config?: Pick<ConnectorConfig, 'name' | 'file' | 'groups'> };
  store: JobStore;
  dataDir: string;
  auth: AuthOptions;
  /** how jobs run (default: the pipeline over `source`, in this thread) */
  executor?: JobExecutor;
  /** groups (default: parsed from source.config.groups) */
  groups?: GroupDefinition[];
  /** public origin, e.g. https://bulk.example.org (default: from each request's Host) */
  baseUrl?: string;
  concurrency?: number;
  /** how long files stay downloadable (default 3600) */
  fileTtlSeconds?: number;
  maxAttempts?: number;
  sweepIntervalMs?: number;
  /** Retry-After of 202 and 429 answers (default 2) */
  retryAfterSeconds?: number;
  /** status polls of one job closer than this get 429 (default 500: common clients poll every second at most; 0 disables) */
  minPollIntervalMs?: number;
  maxResourcesPerFile?: number;
  gzipFiles?: boolean;
  /** trust X-Forwarded-Proto/-Host from a reverse proxy when building URLs (default false; prefer baseUrl) */
  trustProxy?: boolean;
  /** fastify logger option (default false) */
  logger?: boolean | Record<string, unknown>;
}

export interface BulkServer {
  app: FastifyInstance;
  runner: JobRunner;
  store: JobStore;
  /** listens and returns the URL it listens on */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    claims?: TokenClaims;
  }
}

export async function buildServer(options: ServerOptions): Promise<BulkServer> {
  const { store, source } = options;
  const open = options.auth.mode === 'open';
  const auth = options.auth.mode === 'smart' ? options.auth : undefined;
  const tokens = auth ? new AccessTokens({ ...(auth.tokenSecret ? { secret: auth.tokenSecret } : {}), ...(auth.tokenLifetimeSeconds ? { lifetimeSeconds: auth.tokenLifetimeSeconds } : {}) }) : undefined;
  const jwks = auth?.jwksFetcher ?? new JwksFetcher();
  const replay = new ReplayCache();
  const retryAfter = String(options.retryAfterSeconds ?? 2);
  const minPollMs = options.minPollIntervalMs ?? 500;
  const knownTypes = schemaValidator().resourceTypes;
  const groups = new GroupDirectory(options.groups ?? parseGroups(source.config?.groups, source.config?.file), source.adapter, source.mappings);
  const version = packageVersion();
  const startedAt = new Date().toISOString();
  const lastPoll = new Map<string, number>();

  await store.init();
  const runner = new JobRunner({
    store,
    dataDir: options.dataDir,
    requiresAccessToken: !open,
    executor:
      options.executor ??
      pipelineExecutor({
        adapter: source.adapter,
        mappings: source.mappings,
        ...(source.config?.name ? { sourceName: source.config.name } : {}),
        ...(options.maxResourcesPerFile ? { maxResourcesPerFile: options.maxResourcesPerFile } : {}),
        ...(options.gzipFiles ? { gzip: true } : {}),
      }),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    fileTtlMs: (options.fileTtlSeconds ?? 3600) * 1000,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.sweepIntervalMs !== undefined ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
  });

  const app = Fastify({ logger: options.logger ?? false, trustProxy: options.trustProxy ?? false });
  await app.register(formbody);
  app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'ignore'));

  app.setErrorHandler((err: unknown, request, reply) => {
    if (err instanceof OAuthError) {
      return reply.code(err.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(err.toJSON());
    }
    if (err instanceof FhirBridgeError) {
      if (err instanceof HttpError) reply.headers(err.headers);
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.code(err.status).type(FHIR_JSON).send(err.toOperationOutcome());
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.code(status).type(FHIR_JSON).send(operationOutcome('error', 'invalid', (err as Error).message));
    }
    request.log.error({ err }, 'unexpected error');
    return reply.code(500).type(FHIR_JSON).send(operationOutcome('fatal', 'exception', 'internal server error'));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type(FHIR_JSON).send(operationOutcome('error', 'not-found', `${request.method} ${request.url.split('?')[0]} is not an endpoint of this server`));
  });

  const base = (request: FastifyRequest): string => (options.baseUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
  const fhirBase = (request: FastifyRequest): string => `${base(request)}/fhir`;
  const tokenUrl = (request: FastifyRequest): string => `${base(request)}/auth/token`;

  /** The token's claims; in open mode undefined. */
  const authenticate = async (request: FastifyRequest): Promise<TokenClaims | undefined> => {
    if (!tokens) return undefined;
    return tokens.verify(request.headers.authorization);
  };

  /** A job the caller may see (unknown, cancelled, expired and other clients' jobs are all 404). */
  const visibleJob = async (request: FastifyRequest, id: string): Promise<ExportJob> => {
    const claims = await authenticate(request);
    const job = await store.get(id);
    if (!job || (claims && job.clientId !== claims.clientId)) throw new HttpError(404, `no export job ${id}`, 'not-found');
    if (job.status === 'cancelled') throw new HttpError(404, `export job ${id} was cancelled`, 'not-found');
    if (job.status === 'expired') throw new HttpError(404, `export job ${id} has expired; its files were deleted`, 'not-found');
    return job;
  };

  // --- discovery ---------------------------------------------------------------------------------------
  app.get('/fhir/metadata', async (request, reply) => {
    const cs = capabilityStatement({
      fhirBase: fhirBase(request),
      ...(open ? {} : { tokenUrl: tokenUrl(request) }),
      resourceTypes: source.mappings.resourceTypes,
      version,
      date: startedAt,
    });
    return reply.type(FHIR_JSON).send(cs);
  });
  const smartConfig = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (open) throw new HttpError(404, 'this server runs in open mode (no authorization); there is no SMART configuration', 'not-found');
    return reply.type('application/json').send(smartConfiguration(tokenUrl(request), source.mappings.resourceTypes));
  };
  app.get('/fhir/.well-known/smart-configuration', smartConfig);
  app.get('/.well-known/smart-configuration', smartConfig);

  // --- token endpoint (SMART backend services) ---------------------------------------------------------
  app.post('/auth/token', async (request, reply) => {
    if (!auth || !tokens) throw new OAuthError('unauthorized_client', 'this server runs in open mode and issues no tokens');
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || !request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
      throw new OAuthError('invalid_request', 'POST the token request as application/x-www-form-urlencoded');
    }
    if (body.grant_type !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials');
    if (body.client_assertion_type !== ASSERTION_TYPE) throw new OAuthError('invalid_client', `client_assertion_type must be ${ASSERTION_TYPE}`);
    if (typeof body.client_assertion !== 'string') throw new OAuthError('invalid_client', 'client_assertion is required');
    if (typeof body.scope !== 'string' || !body.scope.trim()) throw new OAuthError('invalid_scope', 'scope is required, e.g. system/*.read');
    const client = await verifyClientAssertion(
      body.client_assertion,
      { tokenUrl: tokenUrl(request), clients: auth.clients, jwks, replay },
      typeof body.client_id === 'string' ? body.client_id : undefined,
    );
    const granted = grantScopes(splitScopes(body.scope), splitScopes(client.scope));
    if (granted.length === 0) {
      throw new OAuthError('invalid_scope', `none of the requested scopes (${body.scope}) is allowed for ${client.id} (registered: ${client.scope}); this server grants system/<Type|*>.read and .rs-style scopes`);
    }
    const accessToken = await tokens.issue({ clientId: client.id, scopes: granted });
    request.log.info({ client: client.id, scope: granted.join(' ') }, 'access token issued');
    return reply
      .header('Cache-Control', 'no-store')
      .header('Pragma', 'no-cache')
      .send({ access_token: accessToken, token_type: 'bearer', expires_in: tokens.lifetimeSeconds, scope: granted.join(' ') });
  });

  // --- kick-off ----------------------------------------------------------------------------------------
  const kickoff = (level: ExportLevel) => async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const claims = await authenticate(request);
    const clientId = claims?.clientId ?? null;
    if (claims) {
      const active = await store.active(clientId);
      if (active.length > 0) {
        throw new HttpError(429, `an export of yours is still in progress (${active.map((j) => j.id).join(', ')}); wait for it or DELETE it first`, 'throttled', { 'Retry-After': retryAfter });
      }
    }
    const lenient = isLenient(request.headers.prefer);
    const problems = new ParameterProblems(lenient);
    const raw = parseKickoffParams(
      { method: request.method === 'POST' ? 'POST' : 'GET', query: request.query as Record<string, unknown>, body: request.body, level, lenient, knownTypes },
      problems,
    );
    let group: { id: string; members: unknown[] } | undefined;
    let groupId: string | undefined;
    if (level === 'group') {
      groupId = (request.params as { id: string }).id;
      groups.definition(groupId);
      group = { id: groupId, members: await groups.memberKeys(groupId) };
    }
    const resolved = await resolveKickoff(raw, {
      level,
      mappings: source.mappings,
      adapter: source.adapter,
      problems,
      ...(claims ? { scopes: claims.scopes } : {}),
      ...(group ? { group } : {}),
    });
    const b = base(request);
    const requestUrl = request.method === 'POST' ? `${b}${request.url.split('?')[0]}` : `${b}${request.url}`;
    const job = await store.create({
      id: randomUUID(),
      clientId,
      level,
      ...(groupId ? { groupId } : {}),
      requestUrl,
      baseUrl: b,
      params: resolved.params,
      ignored: problems.ignored,
      ...(resolved.patientKeys ? { patientKeys: resolved.patientKeys } : {}),
    });
    runner.enqueue(job.id);
    request.log.info({ job: job.id, client: clientId, level, types: resolved.params.types }, 'export kicked off');
    const note = problems.ignored.length ? ` ${problems.ignored.length} parameter(s) ignored (handling=lenient); see the manifest's error file.` : '';
    return reply
      .code(202)
      .header('Content-Location', `${b}/jobs/${job.id}`)
      .type(FHIR_JSON)
      .send(operationOutcome('information', 'informational', `export ${job.id} accepted; poll the Content-Location URL for its status.${note}`));
  };
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/fhir/$export', handler: kickoff('system') });
    app.route({ method, url: '/fhir/Patient/$export', handler: kickoff('patient') });
    app.route({ method, url: '/fhir/Group/:id/$export', handler: kickoff('group') });
  }

  // --- status, cancel -----------------------------------------------------------------------------------
  app.get('/jobs/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const job = await visibleJob(request, id);
    if (minPollMs > 0 && (job.status === 'queued' || job.status === 'running')) {
      const now = Date.now();
      const last = lastPoll.get(id);
      if (last !== undefined && now - last < minPollMs) {
        throw new HttpError(429, `polling too fast: wait ${retryAfter} s between status requests`, 'throttled', { 'Retry-After': retryAfter });
      }
      lastPoll.set(id, now);
    }
    switch (job.status) {
      case 'queued':
      case 'running': {
        const progress = runner.progressOf(id) ?? job.progress ?? (job.status === 'queued' ? 'queued' : 'in progress');
        return reply.code(202).header('X-Progress', progress.slice(0, 99)).header('Retry-After', retryAfter).send();
      }
      case 'completed':
        lastPoll.delete(id);
        return reply
          .code(200)
          .type('application/json')
          .header('Expires', new Date(job.expiresAt!).toUTCString())
          .send(job.manifest);
      default: {
        lastPoll.delete(id);
        const outcome: OperationOutcome = job.error ?? operationOutcome('error', 'exception', 'the export failed');
        return reply.code(500).type(FHIR_JSON).send(outcome);
      }
    }
  });

  app.delete('/jobs/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await visibleJob(request, id);
    if (!(await store.cancel(id))) throw new HttpError(404, `no export job ${id}`, 'not-found');
    lastPoll.delete(id);
    await runner.cancel(id);
    request.log.info({ job: id }, 'export job cancelled');
    return reply.code(202).type(FHIR_JSON).send(operationOutcome('information', 'informational', `export ${id} cancelled; its files were deleted`));
  });

  // --- downloads ----------------------------------------------------------------------------------------
  app.get('/files/:id/:file', async (request, reply) => {
    const { id, file } = request.params as { id: string; file: string };
    const claims = await authenticate(request);
    const job = await visibleJob(request, id);
    if (job.status !== 'completed' || !job.manifest) throw new HttpError(404, `export job ${id} has no files (status ${job.status})`, 'not-found');
    const entry = [...job.manifest.output, ...job.manifest.error].find((f) => f.url.endsWith(`/${encodeURIComponent(file)}`));
    if (!entry) throw new HttpError(404, `export job ${id} has no file ${file}`, 'not-found');
    if (claims && entry.type !== 'OperationOutcome' && !canExport(claims.scopes, entry.type)) {
      throw new HttpError(403, `the access token's scopes do not allow reading ${entry.type}`, 'forbidden');
    }
    return sendNdjsonFile(reply, runner.jobDir(id), file, request.headers['accept-encoding'], runner.downloadStarted(id));
  });

  // --- Group read / search --------------------------------------------------------------------------------
  app.get('/fhir/Group', async (request, reply) => {
    await authorizeType(request, 'Group');
    const q = request.query as Record<string, string | undefined>;
    const bundle = await groups.search(fhirBase(request), {
      ...(q.name !== undefined ? { name: q.name } : {}),
      ...(q.identifier !== undefined ? { identifier: q.identifier } : {}),
      ...(q._id !== undefined ? { _id: q._id } : {}),
    });
    return reply.type(FHIR_JSON).send(bundle);
  });
  app.get('/fhir/Group/:id', async (request, reply) => {
    await authorizeType(request, 'Group');
    return reply.type(FHIR_JSON).send(await groups.resource((request.params as { id: string }).id));
  });
  async function authorizeType(request: FastifyRequest, type: string): Promise<void> {
    const claims = await authenticate(request);
    if (claims && !canExport(claims.scopes, type)) throw new HttpError(403, `the access token's scopes do not allow reading ${type}`, 'forbidden');
  }

  await runner.start();
  if (open) app.log.warn('OPEN MODE: no authorization; anyone who can reach this server can export all data');

  return {
    app,
    runner,
    store,
    async listen(port: number, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    async close() {
      await runner.close();
      await app.close();
      await store.close();
    },
  };
}

/** The kick-off levels' exportable types (for the serve banner). */
export function describeExportableTypes(mappings: CompiledMappingSet): Record<ExportLevel, string[]> {
  return { system: exportableTypes(mappings, 'system'), patient: exportableTypes(mappings, 'patient'), group: exportableTypes(mappings, 'group') };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(new URL('../../package.json', import.meta.url).pathname), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
