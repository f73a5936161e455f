// The default job store: one SQLite file (better-sqlite3) in the server's data dir. Statements are
// synchronous and take microseconds, so the async interface just wraps them. Several processes on one
// machine may share the file: each statement holds SQLite's write lock, so a conditional UPDATE is atomic
// there as in PostgreSQL. Leases are timed by this machine's clock (ISO-8601 text compares in time order).
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
  type Lease,
  type TakenJob,
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
    this.db
      .transaction(() => {
        this.db.exec(`CREATE TABLE IF NOT EXISTS export_jobs (${JOB_TABLE_COLUMNS})`);
        this.db.exec('CREATE INDEX IF NOT EXISTS export_jobs_status ON export_jobs (status)');
        // the lease columns, added to a file an earlier version created
        const columns = new Set((this.db.prepare('PRAGMA table_info(export_jobs)').all() as Array<{ name: string }>).map((c) => c.name));
        if (!columns.has('owner')) this.db.exec('ALTER TABLE export_jobs ADD COLUMN owner TEXT');
        if (!columns.has('lease_expires_at')) this.db.exec('ALTER TABLE export_jobs ADD COLUMN lease_expires_at TEXT');
      })
      .immediate();
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

  async start(id: string, transactionTime: string, lease?: Lease): Promise<boolean> {
    return this.guard(() => {
      const now = new Date();
      return this.change(
        `UPDATE export_jobs SET status = 'running', attempts = attempts + 1, transaction_time = @transactionTime, started_at = @now,
           progress = NULL, owner = @owner, lease_expires_at = @until
         WHERE id = @id AND status = 'queued' AND (@owner IS NULL OR owner IS NULL OR owner = @owner OR lease_expires_at <= @now)`,
        {
          transactionTime,
          now: now.toISOString(),
          id,
          owner: lease?.owner ?? null,
          until: lease ? new Date(now.getTime() + lease.ms).toISOString() : null,
        },
      );
    });
  }

  async progress(id: string, text: string): Promise<void> {
    return this.guard(() => {
      this.db.prepare(`UPDATE export_jobs SET progress = ? WHERE id = ? AND status = 'running'`).run(text, id);
    });
  }

  async complete(id: string, manifest: ExportManifest, expiresAt: string, owner?: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'completed', manifest = ?, finished_at = ?, expires_at = ?
         WHERE id = ? AND status = 'running' AND (? IS NULL OR owner = ?)`,
        JSON.stringify(manifest),
        new Date().toISOString(),
        expiresAt,
        id,
        owner ?? null,
        owner ?? null,
      );
    });
  }

  async fail(id: string, outcome: OperationOutcome, expiresAt: string, owner?: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'failed', error = ?, finished_at = ?, expires_at = ?
         WHERE id = ? AND status IN ('queued', 'running') AND (? IS NULL OR owner = ?)`,
        JSON.stringify(outcome),
        new Date().toISOString(),
        expiresAt,
        id,
        owner ?? null,
        owner ?? null,
      );
    });
  }

  async requeue(id: string, refund = false, owner?: string): Promise<boolean> {
    return this.guard(() => {
      return this.change(
        `UPDATE export_jobs SET status = 'queued', progress = NULL, attempts = attempts - ?, owner = NULL, lease_expires_at = ?
         WHERE id = ? AND status = 'running' AND (? IS NULL OR owner = ?)`,
        refund ? 1 : 0,
        new Date().toISOString(),
        id,
        owner ?? null,
        owner ?? null,
      );
    });
  }

  async hold(ids: string[], lease: Lease): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.guard(() => {
      const rows = this.db
        .prepare(
          `UPDATE export_jobs SET owner = ?, lease_expires_at = ?
           WHERE id IN (SELECT value FROM json_each(?)) AND (
             (owner = ? AND status IN ('queued', 'running')) OR (owner IS NULL AND status = 'queued'))
           RETURNING id`,
        )
        .all(lease.owner, new Date(Date.now() + lease.ms).toISOString(), JSON.stringify(ids), lease.owner) as Array<{ id: string }>;
      return rows.map((r) => r.id);
    });
  }

  async takeOver(lease: Lease, options: { graceMs?: number; mine?: boolean } = {}): Promise<TakenJob[]> {
    return this.guard(() => {
      const now = Date.now();
      const iso = new Date(now).toISOString();
      const created = new Date(now - (options.graceMs ?? lease.ms)).toISOString();
      // the write lock (BEGIN IMMEDIATE) is taken before the read: another process cannot take the same rows
      return this.db
        .transaction((): TakenJob[] => {
          const due = this.db
            .prepare(
              `SELECT * FROM export_jobs WHERE status IN ('queued', 'running') AND (@mine OR owner IS NOT @owner) AND (
                 lease_expires_at <= @iso
                 OR (@mine AND owner = @owner)
                 OR (lease_expires_at IS NULL AND (status = 'running' OR created_at <= @created)))
               ORDER BY created_at, id`,
            )
            .all({ iso, mine: options.mine ? 1 : 0, owner: lease.owner, created }) as JobRow[];
          const take = this.db.prepare(
            `UPDATE export_jobs SET status = 'queued', owner = ?, lease_expires_at = ?,
               progress = CASE WHEN status = 'running' THEN NULL ELSE progress END
             WHERE id = ? RETURNING *`,
          );
          const until = new Date(now + lease.ms).toISOString();
          return due.map((old) => ({
            job: rowToJob(take.get(lease.owner, until, old.id) as JobRow),
            was: old.status as 'queued' | 'running',
            previousOwner: old.owner ?? null,
          }));
        })
        .immediate();
    });
  }

  async release(owner: string, ids?: string[]): Promise<void> {
    return this.guard(() => {
      this.db
        .prepare(
          `UPDATE export_jobs SET owner = NULL, lease_expires_at = ?
           WHERE owner = ? AND status IN ('queued', 'cancelled') AND (? IS NULL OR id IN (SELECT value FROM json_each(?)))`,
        )
        .run(new Date().toISOString(), owner, ids ? JSON.stringify(ids) : null, ids ? JSON.stringify(ids) : null);
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
        .prepare(
          `SELECT * FROM export_jobs
           WHERE (status = 'cancelled' AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ?))
              OR (status IN ('completed', 'failed') AND expires_at <= ?)`,
        )
        .all(new Date().toISOString(), now) as JobRow[];
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
