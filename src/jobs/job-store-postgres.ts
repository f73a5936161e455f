// Jobs in PostgreSQL (`fhir-bridge serve --jobs-db postgres://...`), for several server instances behind
// one load balancer or a managed database. Same table as the SQLite store, in a schema of its own
// (default `fhir_bridge`). Each state change is one conditional UPDATE, so concurrent instances cannot
// both start or both finish a job.
import pg from 'pg';
import type { OperationOutcome } from 'fhir/r4';
import { ClientBusyError, JOB_TABLE_COLUMNS, newJobRow, rowToJob, type JobRow, type JobStore } from './job-store.js';
import type { ExportJob, ExportManifest, JobStatus, NewJob } from './types.js';

export interface PostgresJobStoreOptions {
  connectionString: string;
  /** schema holding the export_jobs table (created when missing) */
  schema?: string;
  poolSize?: number;
}

export class PostgresJobStore implements JobStore {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly schema: string;

  constructor(options: PostgresJobStoreOptions) {
    this.schema = options.schema ?? 'fhir_bridge';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(this.schema)) throw new Error(`job store schema "${this.schema}" is not a plain identifier`);
    this.table = `"${this.schema}".export_jobs`;
    this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 5 });
  }

  async init(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
    await this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${JOB_TABLE_COLUMNS})`);
    await this.pool.query(`CREATE INDEX IF NOT EXISTS export_jobs_status ON ${this.table} (status)`);
  }

  async create(job: NewJob): Promise<ExportJob> {
    const row = newJobRow(job, new Date().toISOString());
    const cols = Object.keys(row);
    const insert = `INSERT INTO ${this.table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`;
    if (job.clientId === null) {
      await this.pool.query(insert, Object.values(row));
      return rowToJob(row);
    }
    // A transaction-scoped advisory lock per (table, client) serialises the check and the insert across
    // connections and server instances; it is released at COMMIT/ROLLBACK (also when the connection drops).
    const client = await this.pool.connect();
    let busy: string[] = [];
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [this.table, job.clientId ?? '']);
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM ${this.table} WHERE client_id IS NOT DISTINCT FROM $1 AND status IN ('queued', 'running') ORDER BY created_at`,
        [job.clientId],
      );
      busy = rows.map((r) => r.id);
      if (busy.length === 0) await client.query(insert, Object.values(row));
      await client.query('COMMIT');
      client.release();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(err as Error);
      throw err;
    }
    if (busy.length > 0) throw new ClientBusyError(busy);
    return rowToJob(row);
  }

  async get(id: string): Promise<ExportJob | undefined> {
    const { rows } = await this.pool.query<JobRow>(`SELECT * FROM ${this.table} WHERE id = $1`, [id]);
    return rows[0] ? rowToJob(rows[0]) : undefined;
  }

  async start(id: string, transactionTime: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'running', attempts = attempts + 1, transaction_time = $1, started_at = $2, progress = NULL WHERE id = $3 AND status = 'queued'`,
      [transactionTime, new Date().toISOString(), id],
    );
  }

  async progress(id: string, text: string): Promise<void> {
    await this.pool.query(`UPDATE ${this.table} SET progress = $1 WHERE id = $2 AND status = 'running'`, [text, id]);
  }

  async complete(id: string, manifest: ExportManifest, expiresAt: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'completed', manifest = $1, finished_at = $2, expires_at = $3 WHERE id = $4 AND status = 'running'`,
      [JSON.stringify(manifest), new Date().toISOString(), expiresAt, id],
    );
  }

  async fail(id: string, outcome: OperationOutcome, expiresAt: string): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'failed', error = $1, finished_at = $2, expires_at = $3 WHERE id = $4 AND status IN ('queued', 'running')`,
      [JSON.stringify(outcome), new Date().toISOString(), expiresAt, id],
    );
  }

  async requeue(id: string, refund = false): Promise<boolean> {
    return this.change(
      `UPDATE ${this.table} SET status = 'queued', progress = NULL, attempts = attempts - $2 WHERE id = $1 AND status = 'running'`,
      [id, refund ? 1 : 0],
    );
  }

  async cancel(id: string): Promise<ExportJob | undefined> {
    // One statement: the old row comes back only when this call made the change.
    const { rows } = await this.pool.query<JobRow>(
      `UPDATE ${this.table} AS j SET status = 'cancelled', finished_at = $1
       FROM (SELECT * FROM ${this.table} WHERE id = $2 FOR UPDATE) AS old
       WHERE j.id = old.id AND old.status NOT IN ('cancelled', 'expired')
       RETURNING old.*`,
      [new Date().toISOString(), id],
    );
    return rows[0] ? rowToJob(rows[0]) : undefined;
  }

  async expire(id: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET status = 'expired', manifest = NULL WHERE id = $1 AND status IN ('completed', 'failed', 'cancelled')`,
      [id],
    );
  }

  async list(statuses: JobStatus[]): Promise<ExportJob[]> {
    const { rows } = await this.pool.query<JobRow>(`SELECT * FROM ${this.table} WHERE status = ANY($1) ORDER BY created_at, id`, [
      statuses,
    ]);
    return rows.map(rowToJob);
  }

  async active(clientId: string | null): Promise<ExportJob[]> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.table} WHERE client_id IS NOT DISTINCT FROM $1 AND status IN ('queued', 'running') ORDER BY created_at`,
      [clientId],
    );
    return rows.map(rowToJob);
  }

  async dueForCleanup(now: string): Promise<ExportJob[]> {
    const { rows } = await this.pool.query<JobRow>(
      `SELECT * FROM ${this.table} WHERE status = 'cancelled' OR (status IN ('completed', 'failed') AND expires_at <= $1)`,
      [now],
    );
    return rows.map(rowToJob);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async change(sql: string, params: unknown[]): Promise<boolean> {
    const res = await this.pool.query(sql, params);
    return (res.rowCount ?? 0) > 0;
  }
}
