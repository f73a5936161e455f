// The default job store: one SQLite file (better-sqlite3) in the server's data dir. Statements are
// synchronous and take microseconds, so the async interface just wraps them.
import Database from 'better-sqlite3';
import type { OperationOutcome } from 'fhir/r4';
import {
  ClientBusyError,
  JOB_TABLE_COLUMNS,
  JobStoreUnavailableError,
  newJobRow,
  rowToJob,
  type JobRow,
  type JobStore,
} from './job-store.js';
import type { ExportJob, ExportManifest, JobStatus, NewJob } from './types.js';

export class SqliteJobStore implements JobStore {
  private readonly db: Database.Database;

  /** `file` is a path, or ':memory:' for tests */
  constructor(file: string) {
    this.db = new Database(file);
    // WAL lets status polls read while a job's progress is being written.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
  }

  async init(): Promise<void> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS export_jobs (${JOB_TABLE_COLUMNS})`);
    this.db.exec('CREATE INDEX IF NOT EXISTS export_jobs_status ON export_jobs (status)');
  }

  async create(job: NewJob): Promise<ExportJob> {
    return this.guard(() => {
      const row = newJobRow(job, new Date().toISOString());
      const cols = Object.keys(row);
      const insert = this.db.prepare(`INSERT INTO export_jobs (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`);
      if (job.clientId === null) {
        insert.run(row);
        return rowToJob(row);
      }
      // BEGIN IMMEDIATE takes the write lock before the check, so another process on the same file cannot
      // insert between our SELECT and INSERT (within this process the synchronous transaction is atomic anyway).
      const activeIds = this.db.prepare(
        `SELECT id FROM export_jobs WHERE client_id IS ? AND status IN ('queued', 'running') ORDER BY created_at`,
      );
      const busy = this.db
        .transaction((): string[] => {
          const ids = (activeIds.all(job.clientId) as Array<{ id: string }>).map((r) => r.id);
          if (ids.length === 0) insert.run(row);
          return ids;
        })
        .immediate();
      if (busy.length > 0) throw new ClientBusyError(busy);
      return rowToJob(row);
    });
  }

  async get(id: string): Promise<ExportJob | undefined> {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM export_jobs WHERE id = ?').get(id) as JobRow | undefined;
      return row ? rowToJob(row) : undefined;
    });
  }

  async start(id: string, transactionTime: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'running', attempts = attempts + 1, transaction_time = ?, started_at = ?, progress = NULL
         WHERE id = ? AND status = 'queued'`,
        transactionTime,
        new Date().toISOString(),
        id,
      );
    });
  }

  async progress(id: string, text: string): Promise<void> {
    return this.guard(() => {
      this.db.prepare(`UPDATE export_jobs SET progress = ? WHERE id = ? AND status = 'running'`).run(text, id);
    });
  }

  async complete(id: string, manifest: ExportManifest, expiresAt: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'completed', manifest = ?, finished_at = ?, expires_at = ? WHERE id = ? AND status = 'running'`,
        JSON.stringify(manifest),
        new Date().toISOString(),
        expiresAt,
        id,
      );
    });
  }

  async fail(id: string, outcome: OperationOutcome, expiresAt: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'failed', error = ?, finished_at = ?, expires_at = ? WHERE id = ? AND status IN ('queued', 'running')`,
        JSON.stringify(outcome),
        new Date().toISOString(),
        expiresAt,
        id,
      );
    });
  }

  async requeue(id: string, refund = false): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'queued', progress = NULL, attempts = attempts - ? WHERE id = ? AND status = 'running'`,
        refund ? 1 : 0,
        id,
      );
    });
  }

  async cancel(id: string): Promise<ExportJob | undefined> {
    return this.guard(() => {
      return this.db.transaction((): ExportJob | undefined => {
        const row = this.db.prepare('SELECT * FROM export_jobs WHERE id = ?').get(id) as JobRow | undefined;
        if (!row || row.status === 'cancelled' || row.status === 'expired') return undefined;
        this.db.prepare(`UPDATE export_jobs SET status = 'cancelled', finished_at = ? WHERE id = ?`).run(new Date().toISOString(), id);
        return rowToJob(row);
      })();
    });
  }

  async expire(id: string): Promise<void> {
    return this.guard(() => {
      this.db
        .prepare(
          `UPDATE export_jobs SET status = 'expired', manifest = NULL WHERE id = ? AND status IN ('completed', 'failed', 'cancelled')`,
        )
        .run(id);
    });
  }

  async list(statuses: JobStatus[]): Promise<ExportJob[]> {
    return this.guard(() => {
      const rows = this.db
        .prepare(`SELECT * FROM export_jobs WHERE status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created_at, id`)
        .all(...statuses) as JobRow[];
      return rows.map(rowToJob);
    });
  }

  async active(clientId: string | null): Promise<ExportJob[]> {
    return this.guard(() => {
      const rows = this.db
        .prepare(`SELECT * FROM export_jobs WHERE client_id IS ? AND status IN ('queued', 'running') ORDER BY created_at`)
        .all(clientId) as JobRow[];
      return rows.map(rowToJob);
    });
  }

  async dueForCleanup(now: string): Promise<ExportJob[]> {
    return this.guard(() => {
      const rows = this.db
        .prepare(`SELECT * FROM export_jobs WHERE status = 'cancelled' OR (status IN ('completed', 'failed') AND expires_at <= ?)`)
        .all(now) as JobRow[];
      return rows.map(rowToJob);
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** Runs a statement; a data dir that cannot take it (disk full, I/O error, locked for longer than
   *  busy_timeout) is JobStoreUnavailableError (503 + Retry-After at the HTTP edge, retried by the runner). */
  private guard<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN)/.test(code))
        throw new JobStoreUnavailableError(`SQLite: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  private change(sql: string, ...args: unknown[]): boolean {
    return this.db.prepare(sql).run(...args).changes > 0;
  }
}
