// Jobs in PostgreSQL (`fhir-bridge serve --jobs-db postgres://...`), for several server instances behind
// one load balancer or a managed database. Same table as the SQLite store, in a schema of its own
// (default `fhir_bridge`). Each state change is one conditional UPDATE, so concurrent instances cannot
// both start or both finish a job. Leases (see job-store.ts) are timed by the database's clock (now()),
// so instances on machines whose clocks disagree still agree on when a lease expired.
import pg from 'pg';
import type { OperationOutcome } from 'fhir/r4';
import type { Logger } from '../log.js';
import {
  ClientBusyError,
  JOB_TABLE_COLUMNS,
  JobStoreUnavailableError,
  newJobRow,
  rowToJob,
  type JobRow,
  type JobStore,
  type Lease,
  type TakenJob,
} from './job-store.js';
import type { ExportJob, ExportManifest, JobStatus, NewJob } from './types.js';

export interface PostgresJobStoreOptions {
  connectionString: string;
  /** schema holding the export_jobs table (created when missing) */
  schema?: string;
  poolSize?: number;
  /** application_name of the store's connections (default: the URL's, else fhir-bridge-jobs) */
  applicationName?: string;
  /** ms an unused connection stays open (default pg's 10 s; 0: until it breaks) */
  idleTimeoutMillis?: number;
  /** where a lost connection is reported */
  log?: Pick<Logger, 'warn'>;
}

/** Node socket errors and SQLSTATEs that mean "no usable connection", not "this statement is wrong". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']); // terminated, crash, starting up, too many connections

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || CONNECTION_SQLSTATES.has(code) || code.startsWith('08'))) return true;
  // pg's own messages for a socket that closed under it or a connect that timed out
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    (err as Error)?.message ?? '',
  );
}

export class PostgresJobStore implements JobStore {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly schema: string;

  constructor(options: PostgresJobStoreOptions) {
    this.schema = options.schema ?? 'fhir_bridge';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.schema)) throw new Error(`job store schema "${this.schema}" is not a plain identifier`);
    this.table = `"${this.schema}".export_jobs`;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 5,
      // fail a request with 503 rather than hang it when the database does not answer
      connectionTimeoutMillis: 5000,
      ...(options.applicationName ? { application_name: options.applicationName } : { fallback_application_name: 'fhir-bridge-jobs' }),
      ...(options.idleTimeoutMillis !== undefined ? { idleTimeoutMillis: options.idleTimeoutMillis } : {}),
    });
    // An idle connection that breaks (database restarted, connection terminated) is reported here; without
    // a listener the 'error' event takes the whole process down. The pool has already dropped that
    // connection and opens a new one for the next query.
    this.pool.on('error', (err) => options.log?.warn({ err }, 'job store: a PostgreSQL connection was lost; reconnecting on next use'));
  }

  /** pool.query, with "no connection" turned into JobStoreUnavailableError (503 at the HTTP edge). */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async init(): Promise<void> {
    // Instances starting together would race on CREATE ... IF NOT EXISTS (a duplicate catalogue row):
    // one transaction under an advisory lock per table does it once.
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`init ${this.table}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${JOB_TABLE_COLUMNS})`);
      await client.query(`CREATE INDEX IF NOT EXISTS export_jobs_status ON ${this.table} (status)`);
      // the lease columns, added to a table an earlier version created
      await client.query(
        `ALTER TABLE ${this.table} ADD COLUMN IF NOT EXISTS owner TEXT, ADD COLUMN IF NOT EXISTS lease_expires_at TIMESTAMPTZ`,
      );
    });
  }

  /** Runs `body` in a transaction on one connection; a lost connection is JobStoreUnavailableError. */
  private async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw unavailable(err);
    });
    // A connection that breaks between two statements of the transaction emits 'error' on the client (no
    // statement to reject); the next statement fails anyway, so the event only needs a listener.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      client.off('error', ignore);
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', ignore);
      client.release(err as Error);
      throw unavailable(err);
    }
  }

  async create(job: NewJob): Promise<ExportJob> {
    const row = newJobRow(job, new Date().toISOString());
    const cols = Object.keys(row);
    const insert = `INSERT INTO ${this.table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`;
    if (job.clientId === null) {
      await this.query(insert, Object.values(row));
      return rowToJob(row);
    }
    // A transaction-scoped advisory lock per (table, client) serialises the check and the insert across
    // connections and server instances; it is released at COMMIT/ROLLBACK (also when the connection drops).
    const busy = await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [this.table, job.clientId ?? '']);
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM ${this.table} WHERE client_id IS NOT DISTINCT FROM $1 AND status IN ('queued', 'running') ORDER BY created_at`,
        [job.clientId],
      );
      if (rows.length === 0) await client.query(insert, Object.values(row));
      return rows.map((r) => r.id);
    });
    if (busy.length > 0) throw new ClientBusyError(busy);
    return rowToJob(row);
  }

  async get(id: string): Promise<ExportJob | undefined> {
    const { rows } = await this.query<JobRow>(`SELECT * FROM ${this.table} WHERE id = $1`, [id]);
    return rows[0] ? rowToJob(rows[0]) : undefined;
  }

  async start(id: string, transactionTime: string, lease?: Lease): Promise<boolean> {
    if (!lease)
      return this.change(
        `UPDATE ${this.table} SET status = 'running', attempts = attempts + 1, transaction_time = $1, started_at = $2, progress = NULL,
           owner = NULL, lease_expires_at = NULL
         WHERE id = $3 AND status = 'queued'`,
        [transactionTime, new Date().toISOString(), id],
      );
    return this.change(
      `UPDATE ${this.table} SET status = 'running', attempts = attempts + 1, transaction_time = $1, started_at = $2, progress = NULL,
         owner = $4, lease_expires_at = now() + $5 * interval '1 millisecond'
       WHERE id = $3 AND status = 'queued' AND (owner IS NULL OR owner = $4 OR lease_expires_at <= now())`,
      [transactionTime, new Date().toISOString(), id, lease.owner, lease.ms],
    );
  }

  async progress(id: string, text: string): Promise<void> {
    await this.query(`UPDATE ${this.table} SET progress = $1 WHERE id = $2 AND status = 'running'`, [text, id]);
  }

  async complete(id: string, manifest: ExportManifest, expiresAt: string, owner?: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'completed', manifest = $1, finished_at = $2, expires_at = $3
       WHERE id = $4 AND status = 'running' AND ($5::text IS NULL OR owner = $5)`,
      [JSON.stringify(manifest), new Date().toISOString(), expiresAt, id, owner ?? null],
    );
  }

  async fail(id: string, outcome: OperationOutcome, expiresAt: string, owner?: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'failed', error = $1, finished_at = $2, expires_at = $3
       WHERE id = $4 AND status IN ('queued', 'running') AND ($5::text IS NULL OR owner = $5)`,
      [JSON.stringify(outcome), new Date().toISOString(), expiresAt, id, owner ?? null],
    );
  }

  async requeue(id: string, refund = false, owner?: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'queued', progress = NULL, attempts = attempts - $2, owner = NULL, lease_expires_at = now()
       WHERE id = $1 AND status = 'running' AND ($3::text IS NULL OR owner = $3)`,
      [id, refund ? 1 : 0, owner ?? null],
    );
  }

  async hold(ids: string[], lease: Lease): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.query<{ id: string }>(
      `UPDATE ${this.table} SET owner = $2, lease_expires_at = now() + $3 * interval '1 millisecond'
       WHERE id = ANY($1) AND (
         (owner = $2 AND status IN ('queued', 'running')) OR (owner IS NULL AND status = 'queued'))
       RETURNING id`,
      [ids, lease.owner, lease.ms],
    );
    return rows.map((r) => r.id);
  }

  async takeOver(lease: Lease, options: { graceMs?: number; mine?: boolean } = {}): Promise<TakenJob[]> {
    // SKIP LOCKED: a row another instance is taking right now is left to it rather than waited for; the
    // conditions are checked again on the locked row, so a lease renewed meanwhile is not taken.
    const { rows } = await this.query<JobRow & { was: 'queued' | 'running'; previous_owner: string | null }>(
      `UPDATE ${this.table} AS j SET status = 'queued', owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
         progress = CASE WHEN j.status = 'running' THEN NULL ELSE j.progress END
       FROM (SELECT id, status AS was, owner AS previous_owner FROM ${this.table}
             WHERE status IN ('queued', 'running') AND ($4 OR owner IS DISTINCT FROM $1) AND (
               lease_expires_at <= now()
               OR ($4 AND owner = $1)
               OR (lease_expires_at IS NULL AND (status = 'running' OR created_at::timestamptz <= now() - $3 * interval '1 millisecond')))
             ORDER BY created_at, id
             FOR UPDATE SKIP LOCKED) AS old
       WHERE j.id = old.id
       RETURNING j.*, old.was, old.previous_owner`,
      [lease.owner, lease.ms, options.graceMs ?? lease.ms, options.mine ?? false],
    );
    return rows.map((r) => ({ job: rowToJob(r), was: r.was, previousOwner: r.previous_owner }));
  }

  async release(owner: string, ids?: string[]): Promise<void> {
    await this.query(
      `UPDATE ${this.table} SET owner = NULL, lease_expires_at = now()
       WHERE owner = $1 AND status IN ('queued', 'cancelled') AND ($2::text[] IS NULL OR id = ANY($2))`,
      [owner, ids ?? null],
    );
  }

  async cancel(id: string): Promise<ExportJob | undefined> {
    // One statement: the old row comes back only when this call made the change.
    const { rows } = await this.query<JobRow>(
      `UPDATE ${this.table} AS j SET status = 'cancelled', finished_at = $1
       FROM (SELECT * FROM ${this.table} WHERE id = $2 FOR UPDATE) AS old
       WHERE j.id = old.id AND old.status NOT IN ('cancelled', 'expired')
       RETURNING old.*`,
      [new Date().toISOString(), id],
    );
    return rows[0] ? rowToJob(rows[0]) : undefined;
  }

  async expire(id: string): Promise<void> {
    await this.query(
      `UPDATE ${this.table} SET status = 'expired', manifest = NULL WHERE id = $1 AND status IN ('completed', 'failed', 'cancelled')`,
      [id],
    );
  }

  async list(statuses: JobStatus[]): Promise<ExportJob[]> {
    const { rows } = await this.query<JobRow>(`SELECT * FROM ${this.table} WHERE status = ANY($1) ORDER BY created_at, id`, [statuses]);
    return rows.map(rowToJob);
  }

  async active(clientId: string | null): Promise<ExportJob[]> {
    const { rows } = await this.query<JobRow>(
      `SELECT * FROM ${this.table} WHERE client_id IS NOT DISTINCT FROM $1 AND status IN ('queued', 'running') ORDER BY created_at`,
      [clientId],
    );
    return rows.map(rowToJob);
  }

  async dueForCleanup(now: string): Promise<ExportJob[]> {
    const { rows } = await this.query<JobRow>(
      `SELECT * FROM ${this.table}
       WHERE (status = 'cancelled' AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= now()))
          OR (status IN ('completed', 'failed') AND expires_at <= $1)`,
      [now],
    );
    return rows.map(rowToJob);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async change(sql: string, params: unknown[]): Promise<boolean> {
    const res = await this.query(sql, params);
    return (res.rowCount ?? 0) > 0;
  }
}

function unavailable(err: unknown): unknown {
  return isConnectionError(err) ? new JobStoreUnavailableError(`PostgreSQL: ${(err as Error).message}`, { cause: err }) : err;
}
