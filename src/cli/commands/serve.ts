// `fhir-bridge serve`: the Bulk Data $export server over a connector (default: the embedded Synthea
// sample). Options become buildServer's (src/http/app.ts); the clients it accepts are kept by
// `fhir-bridge clients` (clients.ts) in the same data folder. It registers itself, unlike the other
// commands, because it runs until stopped instead of returning an exit code.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultConnectorFile, loadConnectorConfig } from '../../connectors/index.js';
import { openSource } from '../../pipeline/open-source.js';
import { sharedValidator } from '../../pipeline/validate-resource.js';
import { ClientRegistry } from '../../http/auth/client-registry.js';
import type { JobStore } from '../../jobs/job-store.js';
import { PostgresJobStore } from '../../jobs/job-store-postgres.js';
import { SqliteJobStore } from '../../jobs/job-store-sqlite.js';
import { buildServer } from '../../http/app.js';
import { describeExportableTypes } from '../../http/kickoff/resolve.js';
import { partsExecutor } from '../../jobs/parts-executor.js';
import { poolAndThisThread } from '../../pipeline/part-runner.js';
import { DEFAULT_MIN_ROWS_PER_PART, splitForThreads } from '../../pipeline/key-ranges.js';
import { DEFAULT_RETRY_LIMIT } from '../../queue/part-queue.js';
import { readsOneSnapshot } from './export.js';
import { canUsePool, createPartPool, defaultWorkers, type PartPool } from '../../pipeline/worker-pool.js';
import { createLogger, logLevel } from '../../log.js';
import { type StorageSettings, storageFromSettings } from '../../storage/settings.js';
import { addQueueOptions, startQueueRoles, type QueueRoles } from './queue-options.js';
import { defaultDataDir, duration, positiveInt, registryFile, UsageError } from '../options.js';

export interface ServeOptions extends StorageSettings {
  connector?: string;
  port?: string;
  host?: string;
  baseUrl?: string;
  dataDir?: string;
  open?: boolean;
  clients?: string;
  jobsDb?: string;
  concurrency?: string;
  fileTtl?: string;
  maxResourcesPerFile?: string;
  gzipFiles?: boolean;
  retryAfter?: string;
  minPollInterval?: string;
  tokenLifetime?: string;
  inProcess?: boolean;
  workers?: string;
  batchSize?: string;
  trustProxy?: boolean;
  /** profile validation of exported resources (default on; `--no-validate` sets it false) */
  validate?: boolean;
  /** several instances on one job store: this process' id, the job lease and heartbeat (durations: a bare number is ms) */
  instanceId?: string;
  jobLease?: string;
  heartbeat?: string;
  /** parts go to this PostgreSQL queue, run by `fhir-bridge worker` processes (queue-options.ts) */
  queue?: string;
  queueSchema?: string;
  work?: boolean;
  partLease?: string;
  partRetries?: string;
  partsPerMapping?: string;
  minRowsPerPart?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a FHIR Bulk Data Access 2.0 $export endpoint (SMART backend services auth) over the mapped source')
    .option('-c, --connector <file>', 'connector YAML (default: the embedded Synthea sample in SQLite)')
    .option('-p, --port <n>', 'port to listen on (default: $PORT or 8080)')
    .option('--host <host>', 'interface to listen on (default: $HOST or 127.0.0.1; 0.0.0.0 for all)')
    .option('--base-url <url>', 'public URL of the server, e.g. https://bulk.example.org (default: from each request)')
    .option('--data-dir <dir>', 'jobs database, export files and clients.json (default: $FHIR_BRIDGE_DATA_DIR or ./.fhir-bridge)')
    .option('--open', 'NO AUTHORIZATION: anyone who reaches the port can export everything (local demos only)')
    .option('--clients <file>', 'client registry, JSON or YAML (default: <data-dir>/clients.json)')
    .option('--jobs-db <url>', 'keep jobs in PostgreSQL (postgres://...; default $FHIR_BRIDGE_JOBS_DB, else SQLite in the data dir)')
    .option('--concurrency <n>', 'exports running at the same time', '2')
    .option('--file-ttl <duration>', 'how long export files stay downloadable (seconds, or 30m, 2h…)', '3600')
    .option('--max-resources-per-file <n>', 'resources per NDJSON file before the next one starts', '100000')
    .option('--gzip-files', 'store export files gzipped (sent as they are to clients accepting gzip)')
    .option('--retry-after <duration>', 'Retry-After of in-progress status answers (seconds, or 5s…)', '2')
    .option('--min-poll-interval <duration>', 'status polls of one job closer than this get 429 (milliseconds, or 1s…; 0: never)', '500')
    .option('--token-lifetime <duration>', 'access token lifetime, at most 300 seconds (seconds, or 5m…)', '300')
    .option(
      '--workers <n>',
      'threads that run exports: this one (between requests) and n-1 worker threads (default: the cores, less a quarter beside a database on this machine)',
    )
    .option('--batch-size <n>', 'source rows per batch (each running part holds one batch)', '500')
    .option('--trust-proxy', 'build URLs from X-Forwarded-Proto/-Host (behind a reverse proxy; --base-url is safer)')
    .option(
      '--no-validate',
      'skip profile validation of exported resources (by default a resource failing its profile goes to the error file)',
    )
    .option(
      '--storage <where>',
      'where finished export files are kept: local (the data dir) or s3://bucket[/prefix] (default: $FHIR_BRIDGE_STORAGE or local)',
    )
    .option('--s3-endpoint <url>', 'an S3-compatible server, e.g. http://minio:9000 (default: AWS, or $AWS_ENDPOINT_URL_S3)')
    .option('--s3-region <region>', "the bucket's region (default: $AWS_REGION, else us-east-1 with --s3-endpoint)")
    .option('--s3-force-path-style', 'address the bucket as <endpoint>/<bucket> (most S3-compatible servers need it)')
    .option('--s3-presign <duration>', 'manifests carry pre-signed S3 URLs valid this long (seconds, or 15m…; requiresAccessToken: false)')
    .option(
      '--instance-id <id>',
      'this instance in the job store, unique per running process (default: $FHIR_BRIDGE_INSTANCE_ID, else host:pid:random)',
    )
    .option(
      '--job-lease <duration>',
      'how long an instance holds a job without renewing; then another may take it over (milliseconds, or 30s…)',
      '30000',
    )
    .option(
      '--heartbeat <duration>',
      'how often job leases are renewed, cancels noticed and expired jobs taken over (milliseconds, or 10s…)',
      '10000',
    )
    .option('--in-process', 'run exports on the server thread instead of worker threads (slower status answers during exports)');
  addQueueOptions(program.commands.at(-1)!)
    .option('--work', 'with --queue: this process also runs parts, like a `fhir-bridge worker`')
    .option(
      '--part-lease <duration>',
      'with --queue: a part whose worker has not renewed its lease for this long is given to another (seconds, or 1m…)',
      '30',
    )
    .option(
      '--part-retries <n>',
      'with --queue: tries of a part after its first (a lost lease or a failure each cost one; 0: none); then the export fails',
      String(DEFAULT_RETRY_LIMIT),
    )
    .option('--parts-per-mapping <n>', 'with --queue: a big mapping is cut into at most this many key ranges, one part each', '8')
    .option('--min-rows-per-part <n>', 'with --queue: the fewest source rows a key-range part gets', String(DEFAULT_MIN_ROWS_PER_PART))
    .action(async (opts: ServeOptions) => {
      await serve(opts);
    });
}

export async function serve(opts: ServeOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const port = positiveInt('--port', opts.port ?? env.PORT, 8080, { allowZero: true });
  const host = opts.host ?? env.HOST ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir ?? defaultDataDir(env));
  await mkdir(dataDir, { recursive: true });
  const jobsDb = opts.jobsDb ?? env.FHIR_BRIDGE_JOBS_DB;
  const tokenLifetime = duration('--token-lifetime', opts.tokenLifetime, 300, { unit: 's' });
  if (opts.baseUrl !== undefined && !/^https?:\/\/[^/]+/.test(opts.baseUrl))
    throw new UsageError(`--base-url must be an http(s) URL such as https://bulk.example.org, got "${opts.baseUrl}"`);
  if (tokenLifetime > 300) throw new UsageError('--token-lifetime may be at most 300 seconds (SMART backend services)');
  const storage = storageFromSettings(opts, env, dataDir);

  let clients: ClientRegistry | undefined;
  const clientsFile = registryFile({ ...(opts.clients ? { clients: opts.clients } : {}), dataDir });
  if (!opts.open) clients = await ClientRegistry.load(clientsFile, { missingOk: opts.clients === undefined });

  const connectorFile = opts.connector ? resolve(opts.connector) : undefined;
  // read first: the default thread count depends on where the source's database runs (defaultWorkers)
  const config = await loadConnectorConfig(connectorFile ?? defaultConnectorFile());
  const workers = positiveInt('--workers', opts.workers, defaultWorkers(config));
  const batchSize = positiveInt('--batch-size', opts.batchSize, 500);
  // Exports run as parts on `workers` threads: this one, between requests (yielding every 20 ms), and a pool of
  // the others: one V8 heap fewer than a pool of `workers` beside an HTTP thread that idles while it works.
  // The pool's threads open the source (compile the mappings) while this thread does the same; once warm, a
  // job pays neither a thread start nor a compile.
  const queueUrl = opts.queue ?? env.FHIR_BRIDGE_QUEUE;
  let onParts = !queueUrl && !opts.inProcess && canUsePool();
  let pool: PartPool | undefined = onParts && workers > 1 ? createPartPool({ workers: workers - 1 }) : undefined;
  const warm = pool?.warm(connectorFile, { validate: opts.validate !== false }).catch((err: unknown) => err);
  let source: Awaited<ReturnType<typeof openSource>>;
  try {
    source = await openSource(opts.connector, { config });
    const failed = await warm;
    if (failed) throw failed;
    // A source whose one snapshot per export other threads cannot adopt (MariaDB, SQLite) runs its jobs on
    // this thread (pipeline-executor.ts); PostgreSQL and file sources run as parts.
    if (onParts && readsOneSnapshot(source.adapter)) {
      await pool?.close();
      pool = undefined;
      onParts = false;
    }
  } catch (err) {
    await pool?.close();
    throw err;
  }
  // one logger for fastify, the job runner and the job store: the redaction paths of src/log.ts apply to all
  const log = createLogger({ level: logLevel() });
  let store: JobStore | undefined;
  let queue: QueueRoles | undefined;
  try {
    const validate = opts.validate !== false;
    const maxResourcesPerFile = positiveInt('--max-resources-per-file', opts.maxResourcesPerFile, 100_000);
    if (queueUrl)
      queue = await startQueueRoles({
        settings: {
          url: queueUrl,
          ...(opts.queueSchema ? { schema: opts.queueSchema } : {}),
          leaseSeconds: duration('--part-lease', opts.partLease, 30, { unit: 's' }),
          retryLimit: positiveInt('--part-retries', opts.partRetries, DEFAULT_RETRY_LIMIT, { allowZero: true }),
        },
        work: opts.work ?? false,
        source,
        ...(connectorFile ? { connectorFile } : {}),
        maxResourcesPerFile,
        gzip: opts.gzipFiles ?? false,
        batchSize,
        validate,
        split: {
          partsPerRun: positiveInt('--parts-per-mapping', opts.partsPerMapping, 8),
          minRowsPerPart: positiveInt('--min-rows-per-part', opts.minRowsPerPart, DEFAULT_MIN_ROWS_PER_PART),
        },
      });
    store = jobsDb ? new PostgresJobStore({ connectionString: jobsDb, log }) : new SqliteJobStore(resolve(dataDir, 'jobs.sqlite'));
    // built now rather than at the first export (seconds of package loading); each pool thread builds its own
    if (validate) await sharedValidator();
    const server = await buildServer({
      source,
      store,
      ...(queue ? { executor: queue.executor } : {}),
      ...(onParts
        ? {
            executor: partsExecutor({
              runner: poolAndThisThread(pool, source, { yieldEveryMs: 20 }),
              // big runs cut into key ranges as the CLI cuts them, so no thread maps one dominant type alone
              ...(pool ? { split: splitForThreads(source.adapter, workers) } : {}),
              adapter: source.adapter,
              ...(connectorFile ? { connectorFile } : {}),
              mappings: source.mappings,
              sourceName: source.config.name,
              maxResourcesPerFile,
              gzip: opts.gzipFiles ?? false,
              batchSize,
              validate,
            }),
          }
        : {}),
      dataDir,
      ...(storage.store ? { fileStore: storage.store } : {}),
      ...(storage.presignSeconds !== undefined ? { presignSeconds: storage.presignSeconds } : {}),
      auth: clients
        ? {
            mode: 'smart',
            clients,
            tokenLifetimeSeconds: tokenLifetime,
            ...(env.FHIR_BRIDGE_TOKEN_SECRET ? { tokenSecret: env.FHIR_BRIDGE_TOKEN_SECRET } : {}),
          }
        : { mode: 'open' },
      ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
      trustProxy: opts.trustProxy ?? false,
      concurrency: positiveInt('--concurrency', opts.concurrency, 2),
      fileTtlSeconds: duration('--file-ttl', opts.fileTtl, 3600, { unit: 's' }),
      maxResourcesPerFile,
      gzipFiles: opts.gzipFiles ?? false,
      validate,
      retryAfterSeconds: duration('--retry-after', opts.retryAfter, 2, { unit: 's' }),
      minPollIntervalMs: duration('--min-poll-interval', opts.minPollInterval, 500, { unit: 'ms', allowZero: true }),
      logger: log,
      leases: jobLeases(opts, env),
    });
    const url = await server.listen(port, host).catch(async (err: unknown) => {
      await server.close().catch(() => undefined);
      throw listenError(err, port, host);
    });
    const publicBase = (opts.baseUrl ?? url).replace(/\/+$/, '');
    const types = describeExportableTypes(source.mappings);
    const lines = [
      `fhir-bridge $export server for ${source.config.name} (${source.mappings.mappings.length} mappings)`,
      `  listening on   ${url}`,
      `  FHIR base      ${publicBase}/fhir      (metadata, $export, Patient/$export, Group/[id]/$export)`,
      `  groups         ${Object.keys(source.config.groups ?? {}).join(', ') || 'none (define them under groups: in the connector file)'}`,
      `  types          ${types.system.join(', ')}`,
      `  files          ${storage.store?.description ?? `${dataDir}/jobs`}; downloads ${storage.presignSeconds ? `by pre-signed URLs valid ${storage.presignSeconds} s` : 'through this server'}`,
      `  data           ${dataDir}${jobsDb ? ' (jobs in PostgreSQL)' : ''}; exports run ${queue ? queue.describe : onParts ? `as parts on this thread${pool ? ` and ${pool.workers} worker thread(s)` : ''}` : 'on the server thread'}`,
      `  instance       ${server.runner.instanceId} (job lease ${server.runner.leaseMs} ms, heartbeat ${server.runner.heartbeatMs} ms)`,
    ];
    if (clients) {
      lines.push(
        `  auth           SMART backend services; token endpoint ${publicBase}/auth/token; ${clients.size} client(s) from ${clientsFile}`,
      );
      if (clients.size === 0)
        lines.push(
          '                 no client registered yet: fhir-bridge clients add --id <id> --jwks-url <url> (or --generate-key key.json)',
        );
    }
    process.stderr.write(lines.join('\n') + '\n');
    // a bucket that does not answer yet is a warning, not a refusal to start: each job fails clearly instead
    void storage.store?.check().catch((err: unknown) => log.warn({ err }, (err as Error).message));
    if (!clients) process.stderr.write(openModeBanner(publicBase));

    const stop = async (signal: string): Promise<void> => {
      process.stderr.write(`${signal}: stopping (running exports resume at the next start)\n`);
      await server.close();
      await queue?.close();
      await pool?.close();
      await source.close();
      storage.store?.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  } catch (err) {
    await store?.close().catch(() => undefined);
    await queue?.close().catch(() => undefined);
    await pool?.close();
    await source.close();
    throw err;
  }
}

/** --instance-id, --job-lease, --heartbeat: checked here so a bad value is a usage error, not a stack trace. */
function jobLeases(opts: ServeOptions, env: NodeJS.ProcessEnv): NonNullable<Parameters<typeof buildServer>[0]['leases']> {
  const leaseMs = duration('--job-lease', opts.jobLease, 30_000, { unit: 'ms' });
  const heartbeatMs = duration('--heartbeat', opts.heartbeat, 10_000, { unit: 'ms' });
  if (heartbeatMs * 2 > leaseMs)
    throw new UsageError(
      `--heartbeat (${heartbeatMs} ms) must be at most half of --job-lease (${leaseMs} ms), so a lease survives a missed renewal`,
    );
  const instanceId = opts.instanceId ?? env.FHIR_BRIDGE_INSTANCE_ID;
  return { leaseMs, heartbeatMs, ...(instanceId ? { instanceId } : {}) };
}

export function openModeBanner(base: string): string {
  const bar = '!'.repeat(78);
  return (
    [
      '',
      bar,
      '!!  OPEN MODE: NO AUTHORIZATION.',
      `!!  Anyone who can reach ${base} can export ALL data of this source.`,
      '!!  Use it for local demos only; without --open the server requires SMART backend-services tokens.',
      bar,
      '',
    ].join('\n') + '\n'
  );
}

/** A port that cannot be had is a usage problem with a way out, not a stack trace. */
export function listenError(err: unknown, port: number, host: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE')
    return new UsageError(`port ${port} on ${host} is already in use: choose another with --port <n> (or the PORT variable)`);
  if (code === 'EACCES')
    return new UsageError(`not allowed to listen on port ${port} on ${host}: choose a port above 1023 with --port <n> (or PORT)`);
  if (code === 'EADDRNOTAVAIL') return new UsageError(`${host} is not an address of this machine: choose another with --host (or HOST)`);
  return err;
}
