// Leases on taken parts, the heartbeat pg-boss 10 lacks. One row per (job, attempt): the worker that took
// the attempt renews it while it runs; an attempt whose lease was not renewed within the lease length is
// "expired" by the coordinator, which then fails the job so that pg-boss retries it elsewhere. Every state
// change is one conditional statement, so a worker and the coordinator can never both win: a worker only
// completes a job whose lease it still holds, and only a lease nobody renewed in time is taken over.
import type PgBoss from 'pg-boss';
import { PART_QUEUE } from './part-queue.js';

export const LEASE_TABLE = 'fhir_bridge_part_lease';

type Db = PgBoss.Db;

/** Creates the lease table once (concurrent starts of several processes serialise on an advisory lock). */
export async function ensureLeaseTable(db: Db, schema: string): Promise<void> {
  await db.executeSql(
    `DO $$ BEGIN
       PERFORM pg_advisory_xact_lock(hashtext('${schema}.${LEASE_TABLE}'));
       CREATE TABLE IF NOT EXISTS ${schema}.${LEASE_TABLE} (
         job_id uuid NOT NULL,
         attempt int NOT NULL,
         worker text,
         state text NOT NULL,
         taken_at timestamptz NOT NULL DEFAULT now(),
         renewed_at timestamptz NOT NULL DEFAULT now(),
         rows_read bigint NOT NULL DEFAULT 0,
         resources_written bigint NOT NULL DEFAULT 0,
         PRIMARY KEY (job_id, attempt)
       );
     END $$`,
    [],
  );
}

/** Leases of parts long gone (pg-boss keeps its own jobs for its retention; these need not outlive them). */
export async function pruneLeases(db: Db, schema: string, olderThanDays = 14): Promise<void> {
  await db.executeSql(`DELETE FROM ${schema}.${LEASE_TABLE} WHERE renewed_at < now() - make_interval(days => $1)`, [olderThanDays]);
}

export interface LeaseKey {
  jobId: string;
  attempt: number;
  worker: string;
}

/** The worker takes the attempt it fetched; false when the coordinator already gave the attempt up. */
export async function takeLease(db: Db, schema: string, k: LeaseKey): Promise<boolean> {
  const { rows } = await db.executeSql(
    `INSERT INTO ${schema}.${LEASE_TABLE} (job_id, attempt, worker, state) VALUES ($1, $2, $3, 'held')
     ON CONFLICT (job_id, attempt) DO NOTHING RETURNING 1`,
    [k.jobId, k.attempt, k.worker],
  );
  return rows.length === 1;
}

/**
 * The heartbeat, with the part's progress; false when the lease is no longer this worker's (expired and
 * taken over) or the job is no longer active (cancelled): the worker then stops the part.
 */
export async function renewLease(
  db: Db,
  schema: string,
  queue: string,
  k: LeaseKey,
  progress: { rows: number; resources: number },
): Promise<boolean> {
  const { rows } = await db.executeSql(
    `UPDATE ${schema}.${LEASE_TABLE} l SET renewed_at = now(), rows_read = $4, resources_written = $5
     WHERE l.job_id = $1 AND l.attempt = $2 AND l.worker = $3 AND l.state = 'held'
       AND EXISTS (SELECT 1 FROM ${schema}.job j WHERE j.name = $6 AND j.id = l.job_id AND j.state = 'active')
     RETURNING 1`,
    [k.jobId, k.attempt, k.worker, progress.rows, progress.resources, queue],
  );
  return rows.length === 1;
}

/** Ends the attempt ('done' or 'failed'); false when the lease was lost first (the result must be dropped). */
export async function endLease(db: Db, schema: string, k: LeaseKey, state: 'done' | 'failed'): Promise<boolean> {
  const { rows } = await db.executeSql(
    `UPDATE ${schema}.${LEASE_TABLE} SET state = $4, renewed_at = now()
     WHERE job_id = $1 AND attempt = $2 AND worker = $3 AND state = 'held' RETURNING 1`,
    [k.jobId, k.attempt, k.worker, state],
  );
  return rows.length === 1;
}

/**
 * Takes over an attempt whose lease ran out: one renewed longer ago than the lease, one that was ended
 * ('done') but whose job never completed (the worker died in between), none at all (the worker died before
 * it could take its lease), or one already expired whose job is still active (failing it did not get
 * through; the caller only asks while the attempt is active). Returns the worker that lost it (null: it
 * never took the lease), or undefined when the attempt was not overdue after all (renewed or ended).
 */
export async function expireLease(
  db: Db,
  schema: string,
  jobId: string,
  attempt: number,
  leaseSeconds: number,
): Promise<{ worker: string | null } | undefined> {
  const { rows } = await db.executeSql(
    `INSERT INTO ${schema}.${LEASE_TABLE} AS l (job_id, attempt, worker, state) VALUES ($1, $2, NULL, 'expired')
     ON CONFLICT (job_id, attempt) DO UPDATE SET state = 'expired'
       WHERE l.state IN ('held', 'done', 'expired') AND l.renewed_at < now() - make_interval(secs => $3)
     RETURNING worker`,
    [jobId, attempt, leaseSeconds],
  );
  return rows.length === 1 ? { worker: (rows[0] as { worker: string | null }).worker } : undefined;
}

export interface WatchedPart {
  id: string;
  state: 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';
  attempt: number;
  output: unknown;
  /** the attempt is active and its lease (or, before it has one, its start) is older than the lease length */
  overdue: boolean;
  rowsRead: number;
  resourcesWritten: number;
}

/** The state of the given jobs with their current attempt's lease, in one query (the coordinator's poll). */
export async function watchParts(db: Db, schema: string, queue: string, ids: string[], leaseSeconds: number): Promise<WatchedPart[]> {
  const { rows } = await db.executeSql(
    `SELECT j.id, j.state::text AS state, j.retry_count AS attempt, j.output,
            (j.state = 'active' AND COALESCE(l.renewed_at, j.started_on) < now() - make_interval(secs => $3)) AS overdue,
            COALESCE(l.rows_read, 0) AS rows_read, COALESCE(l.resources_written, 0) AS resources_written
     FROM ${schema}.job j LEFT JOIN ${schema}.${LEASE_TABLE} l ON l.job_id = j.id AND l.attempt = j.retry_count
     WHERE j.name = $1 AND j.id = ANY($2::uuid[])`,
    [queue, ids, leaseSeconds],
  );
  return (rows as Array<Record<string, unknown>>).map((r) => ({
    id: String(r.id),
    state: r.state as WatchedPart['state'],
    attempt: Number(r.attempt),
    output: r.output,
    overdue: r.overdue === true,
    rowsRead: Number(r.rows_read),
    resourcesWritten: Number(r.resources_written),
  }));
}

/** Every attempt of a job, oldest first: who took it and how it ended (for tests and operators). */
export async function attemptsOf(
  db: Db,
  schema: string,
  jobId: string,
): Promise<Array<{ attempt: number; worker: string | null; state: string }>> {
  const { rows } = await db.executeSql(`SELECT attempt, worker, state FROM ${schema}.${LEASE_TABLE} WHERE job_id = $1 ORDER BY attempt`, [
    jobId,
  ]);
  return rows as Array<{ attempt: number; worker: string | null; state: string }>;
}

/** Parts of an export not yet ended (queued, waiting for a retry, or running): those of an earlier run of it. */
export async function stalePartJobs(db: Db, schema: string, exportId: string): Promise<string[]> {
  const { rows } = await db.executeSql(
    `SELECT id FROM ${schema}.job WHERE name = $2 AND state < 'completed' AND data->'part'->>'exportId' = $1`,
    [exportId, PART_QUEUE],
  );
  return (rows as Array<{ id: string }>).map((r) => r.id);
}
