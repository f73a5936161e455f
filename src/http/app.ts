// The Bulk Data $export server (fastify): FHIR base at /fhir, job status at /jobs/:id, downloads at
// /files/:id/:name, SMART backend-services token endpoint at /auth/token. `buildServer` serves both the
// tests (app.inject) and `fhir-bridge serve` (listen). It wires the parts: the job runner over the store,
// one fastify plugin per operation (discovery, token, kick-off, status, files, groups: each names its
// endpoints and IG section at its top), and the one error handler that makes every error at this edge an
// OperationOutcome (the token endpoint answers OAuth JSON errors instead).
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { ConnectorConfig, SourceAdapter } from '../connectors/types.js';
import { FhirBridgeError, HttpError, operationOutcome } from '../errors.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { schemaValidator } from '../fhir/schema-validator.js';
import { GroupDirectory, parseGroups, type GroupDefinition } from '../groups/group-directory.js';
import type { JobStore } from '../jobs/job-store.js';
import type { Logger } from '../log.js';
import { pipelineExecutor } from '../jobs/pipeline-executor.js';
import { JobRunner, type JobExecutor, type JobRunnerOptions } from '../jobs/runner.js';
import { presignedManifest } from '../jobs/manifest.js';
import { LocalFileStore } from '../storage/local-store.js';
import { publishingExecutor } from '../storage/publishing-executor.js';
import type { ExportFileStore } from '../storage/types.js';
import { AccessTokens } from './auth/access-token.js';
import { ReplayCache } from './auth/client-assertion.js';
import type { ClientRegistry } from './auth/client-registry.js';
import { JwksFetcher } from './auth/jwks-fetcher.js';
import { OAuthError } from './auth/oauth-error.js';
import { discoveryRoutes } from './discovery.js';
import { fileRoutes } from './files.js';
import { groupRoutes } from './groups.js';
import { kickoffRoutes } from './kickoff.js';
import { FHIR_JSON, requestContext } from './request-context.js';
import { statusRoutes } from './status.js';
import { tokenRoutes } from './token.js';

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
  /** where finished jobs' files are kept: the data folder (default) or an S3 bucket (src/storage/) */
  fileStore?: ExportFileStore;
  /** manifests carry pre-signed URLs valid this many seconds (needs a store that signs: S3) instead of the server's */
  presignSeconds?: number;
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
  /** profile validation of exported resources by the default executor (default false; `serve` turns it on) */
  validate?: boolean;
  /** trust X-Forwarded-Proto/-Host from a reverse proxy when building URLs (default false; prefer baseUrl) */
  trustProxy?: boolean;
  /** The process' logger (src/log.ts createLogger: redaction paths, one JSON line per event). fastify logs
   *  requests with this very instance (it must not build its own, which would skip the redaction) and the
   *  job runner logs each job state change to it. Default: no logging. */
  logger?: Logger;
  /** how the runner retries writes to an unavailable job store (tests shorten it) */
  storeRetry?: JobRunnerOptions['storeRetry'];
  /** job ownership between instances sharing a store: instance id, lease and heartbeat (src/jobs/runner.ts) */
  leases?: Pick<JobRunnerOptions, 'instanceId' | 'leaseMs' | 'heartbeatMs'>;
}

export interface BulkServer {
  app: FastifyInstance;
  runner: JobRunner;
  store: JobStore;
  /** listens and returns the URL it listens on */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function buildServer(options: ServerOptions): Promise<BulkServer> {
  const { store, source } = options;
  const open = options.auth.mode === 'open';
  const auth = options.auth.mode === 'smart' ? options.auth : undefined;
  const tokens = auth
    ? new AccessTokens({
        ...(auth.tokenSecret ? { secret: auth.tokenSecret } : {}),
        ...(auth.tokenLifetimeSeconds ? { lifetimeSeconds: auth.tokenLifetimeSeconds } : {}),
        clients: auth.clients, // tokens of removed clients stop working (issue 8, item 5)
      })
    : undefined;
  const retryAfter = String(options.retryAfterSeconds ?? 2);
  const trustProxy = options.trustProxy ?? false;
  const groups = new GroupDirectory(
    options.groups ?? parseGroups(source.config?.groups, source.config?.file),
    source.adapter,
    source.mappings,
  );

  const edge = { trustProxy, frameworkErrors, clientErrorHandler };
  const app = (
    options.logger ? Fastify({ loggerInstance: options.logger, ...edge }) : Fastify({ logger: false, ...edge })
  ) as FastifyInstance;
  await store.init();
  const files: ExportFileStore = options.fileStore ?? new LocalFileStore(options.dataDir);
  const presignSeconds = options.presignSeconds;
  if (presignSeconds !== undefined && !files.presign)
    throw new FhirBridgeError(`pre-signed download URLs need a store that signs them (S3); ${files.description} cannot`, { status: 400 });
  const runner = new JobRunner({
    log: app.log,
    ...(options.storeRetry ? { storeRetry: options.storeRetry } : {}),
    ...options.leases,
    store,
    dataDir: options.dataDir,
    files,
    requiresAccessToken: !open,
    executor: publishingExecutor(
      options.executor ??
        pipelineExecutor({
          adapter: source.adapter,
          mappings: source.mappings,
          ...(source.config?.name ? { sourceName: source.config.name } : {}),
          ...(options.maxResourcesPerFile ? { maxResourcesPerFile: options.maxResourcesPerFile } : {}),
          ...(options.gzipFiles ? { gzip: true } : {}),
          ...(options.validate ? { validate: true } : {}),
        }),
      files,
    ),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    fileTtlMs: (options.fileTtlSeconds ?? 3600) * 1000,
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    ...(options.sweepIntervalMs !== undefined ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
  });

  await app.register(formbody);
  app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'ignore'));

  app.setErrorHandler((err: unknown, request, reply) => {
    if (err instanceof OAuthError) {
      return reply.code(err.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(err.toJSON());
    }
    if (err instanceof FhirBridgeError) {
      if (err instanceof HttpError) reply.headers(err.headers);
      // "try again later" answers (429 busy, 503 store or source unreachable) tell the client when
      if ((err.status === 429 || err.status === 503) && !reply.hasHeader('Retry-After')) reply.header('Retry-After', retryAfter);
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.code(err.status).type(FHIR_JSON).send(err.toOperationOutcome());
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply
        .code(status)
        .type(FHIR_JSON)
        .send(operationOutcome('error', 'invalid', (err as Error).message));
    }
    request.log.error({ err }, 'unexpected error');
    return reply
      .code(500)
      .type(FHIR_JSON)
      .send(operationOutcome('fatal', 'exception', 'internal server error'));
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type(FHIR_JSON)
      .send(operationOutcome('error', 'not-found', `${request.method} ${request.url.split('?')[0]} is not an endpoint of this server`));
  });

  // The plugins share these through their options (no decorators): one context, one runner, one store.
  const context = requestContext({ ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}), ...(tokens ? { tokens } : {}), store });
  const { mappings, adapter } = source;
  await app.register(discoveryRoutes, {
    context,
    open,
    resourceTypes: mappings.resourceTypes,
    version: packageVersion(),
    startedAt: new Date().toISOString(),
  });
  await app.register(tokenRoutes, {
    context,
    ...(auth && tokens
      ? { smart: { clients: auth.clients, tokens, jwks: auth.jwksFetcher ?? new JwksFetcher(), replay: new ReplayCache() } }
      : {}),
  });
  await app.register(kickoffRoutes, {
    context,
    store,
    runner,
    groups,
    adapter,
    mappings,
    knownTypes: schemaValidator().resourceTypes,
    retryAfter,
  });
  await app.register(statusRoutes, {
    context,
    store,
    runner,
    retryAfter,
    minPollMs: options.minPollIntervalMs ?? 500,
    ...(presignSeconds !== undefined && files.presign
      ? { present: (job) => presignedManifest(job.manifest!, (name) => files.presign!(job.id, name, presignSeconds)) }
      : {}),
  });
  await app.register(fileRoutes, { context, runner, files });
  await app.register(groupRoutes, { context, groups });

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

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(new URL('../../package.json', import.meta.url).pathname), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Errors fastify raises before a route runs (a malformed URL, a bad Content-Type): answered as every other
 * error at this edge is, with an OperationOutcome.
 */
function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
  reply
    .code(status)
    .type(FHIR_JSON)
    .send(operationOutcome('error', 'invalid', error.message));
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (a URL or headers too large: 414, 431; a
 * malformed request: 400). Node would answer with an empty body; a bulk client gets an OperationOutcome.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_URI_TOO_LONG' ? 414 : 400;
  const reason = status === 431 ? 'Request Header Fields Too Large' : status === 414 ? 'URI Too Long' : 'Bad Request';
  const what = status === 431 ? 'the request headers are too large' : status === 414 ? 'the URL is too long' : 'the request is malformed';
  const body = JSON.stringify(operationOutcome('error', status === 400 ? 'invalid' : 'too-long', `${what} (${err.code ?? 'bad request'})`));
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${FHIR_JSON}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  } else socket.destroy();
}
