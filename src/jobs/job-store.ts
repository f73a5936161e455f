// Where export jobs live between requests and across restarts. Two implementations share one table
// layout (see JOB_TABLE_COLUMNS): SQLite (job-store-sqlite.ts, the default, a file in the data dir) and
// PostgreSQL (job-store-postgres.ts, for several server instances or managed databases).
//
// Leases: a queued or running job is held by one server instance (`owner`, an id per process) until
// `lease_expires_at`; the owner renews the leases of the jobs it holds (`hold`) on every heartbeat. Only a
// job whose lease expired (its owner died or lost the store), or that nobody holds, is taken over by
// another instance (`takeOver`), in one conditional statement so two instances cannot both take one.
// Completing or failing a job checks the owner, so an instance that lost its job writes nothing for it.
import type { OperationOutcome } from 'fhir/r4';
import { FhirBridgeError } from '../errors.js';
import type { ExportJob, ExportManifest, JobStatus, NewJob } from './types.js';

/** Who holds a job, and for how long each claim or renewal holds it. */
export interface Lease {
  /** the server instance (one id per process) */
  owner: string;
  /** lease length, milliseconds from the store's clock at the time of the statement */
  ms: number;
}

/** A job `takeOver` took, with what it was before. */
export interface TakenJob {
  job: ExportJob;
  /** queued (nobody held it, or its owner's lease expired) or running (its owner died mid-run) */
  was: 'queued' | 'running';
  previousOwner: string | null;
}

export interface JobStore {
  /** Creates the table when missing and adds the lease columns to a table of an earlier version. */
  init(): Promise<void>;
  /**
   * Stores a new queued job. A client (clientId not null: SMART mode) runs one export at a time: the check
   * "no queued or running job of this client" and the insert are one atomic step (a transaction holding a
   * per-client lock), so of concurrent kick-offs exactly one is stored and the others get ClientBusyError.
   * Open mode (clientId null) has no such limit.
   */
  create(job: NewJob): Promise<ExportJob>;
  get(id: string): Promise<ExportJob | undefined>;
  /**
   * queued → running, attempts + 1, new transactionTime; false when the job is no longer queued. With a
   * lease, the job is claimed by `lease.owner` too, and only when nobody else holds it (unowned, already
   * the owner's, or its holder's lease expired): of two instances starting one job, one wins.
   */
  start(id: string, transactionTime: string, lease?: Lease): Promise<boolean>;
  progress(id: string, text: string): Promise<void>;
  /** running → completed; false when the job was cancelled meanwhile, or (with `owner`) is no longer its */
  complete(id: string, manifest: ExportManifest, expiresAt: string, owner?: string): Promise<boolean>;
  /** queued|running → failed; with `owner`, only while the job is still its */
  fail(id: string, outcome: OperationOutcome, expiresAt: string, owner?: string): Promise<boolean>;
  /**
   * running → queued (a restart re-runs it), released: any instance may take it at once; `refund` un-counts
   * the run (a clean shutdown is no failure); with `owner`, only while the job is still its.
   */
  requeue(id: string, refund?: boolean, owner?: string): Promise<boolean>;
  /**
   * The heartbeat: renews the lease of those of `ids` that `lease.owner` holds and that are still queued or
   * running, and claims those queued that nobody holds (a kick-off this instance accepted). Returns the
   * ids it holds now; a running job missing from the answer was cancelled or taken over.
   */
  hold(ids: string[], lease: Lease): Promise<string[]>;
  /**
   * Takes every job nobody holds any more, in one atomic step: running ones whose lease expired (or that
   * have no owner: stored by an earlier version) go back to queued, held by `lease.owner`; queued ones
   * whose holder's lease expired, or that nobody claimed within `graceMs` of their creation, are held by
   * it. Jobs recorded under `lease.owner` itself are left alone (it renews them, or settles what it could not
   * record), unless `mine`: at start-up they are all taken (a restart with the same instance id).
   */
  takeOver(lease: Lease, options?: { graceMs?: number; mine?: boolean }): Promise<TakenJob[]>;
  /** Gives up the queued jobs `owner` holds (a clean shutdown), and cancelled ones once their files are gone. */
  release(owner: string, ids?: string[]): Promise<void>;
  /** queued|running|completed|failed → cancelled; returns the job as it was, undefined when unknown */
  cancel(id: string): Promise<ExportJob | undefined>;
  /** completed|failed|cancelled → expired */
  expire(id: string): Promise<void>;
  /** jobs in these states, oldest first */
  list(statuses: JobStatus[]): Promise<ExportJob[]>;
  /** queued or running jobs of a client (null: open mode) */
  active(clientId: string | null): Promise<ExportJob[]>;
  /** completed or failed jobs whose files expired before `now`, and cancelled ones nobody holds any more */
  dueForCleanup(now: string): Promise<ExportJob[]>;
  close(): Promise<void>;
}

/** The columns, in both SQL dialects' terms (TEXT holds JSON and ISO-8601 instants). */
export const JOB_TABLE_COLUMNS = `
  id TEXT PRIMARY KEY,
  client_id TEXT,
  status TEXT NOT NULL,
  level TEXT NOT NULL,
  group_id TEXT,
  request_url TEXT NOT NULL,
  base_url TEXT NOT NULL,
  params TEXT NOT NULL,
  ignored TEXT NOT NULL,
  patient_keys TEXT,
  created_at TEXT NOT NULL,
  transaction_time TEXT,
  started_at TEXT,
  finished_at TEXT,
  expires_at TEXT,
  progress TEXT,
  manifest TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0`;

export interface JobRow {
  id: string;
  client_id: string | null;
  status: string;
  level: string;
  group_id: string | null;
  request_url: string;
  base_url: string;
  params: string;
  ignored: string;
  patient_keys: string | null;
  created_at: string;
  transaction_time: string | null;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string | null;
  progress: string | null;
  manifest: string | null;
  error: string | null;
  attempts: number | string;
  owner?: string | null;
  /** TEXT in SQLite, timestamptz (a Date from pg) in PostgreSQL */
  lease_expires_at?: string | Date | null;
}

export function rowToJob(r: JobRow): ExportJob {
  const job: ExportJob = {
    id: r.id,
    clientId: r.client_id,
    status: r.status as JobStatus,
    level: r.level as ExportJob['level'],
    requestUrl: r.request_url,
    baseUrl: r.base_url,
    params: JSON.parse(r.params) as ExportJob['params'],
    ignored: JSON.parse(r.ignored) as ExportJob['ignored'],
    createdAt: r.created_at,
    attempts: Number(r.attempts),
  };
  if (r.group_id !== null) job.groupId = r.group_id;
  if (r.patient_keys !== null) job.patientKeys = JSON.parse(r.patient_keys) as unknown[];
  if (r.transaction_time !== null) job.transactionTime = r.transaction_time;
  if (r.started_at !== null) job.startedAt = r.started_at;
  if (r.finished_at !== null) job.finishedAt = r.finished_at;
  if (r.expires_at !== null) job.expiresAt = r.expires_at;
  if (r.progress !== null) job.progress = r.progress;
  if (r.manifest !== null) job.manifest = JSON.parse(r.manifest) as ExportManifest;
  if (r.error !== null) job.error = JSON.parse(r.error) as OperationOutcome;
  if (r.owner) job.owner = r.owner;
  if (r.lease_expires_at) job.leaseExpiresAt = new Date(r.lease_expires_at).toISOString();
  return job;
}

export function newJobRow(job: NewJob, now: string): JobRow {
  return {
    id: job.id,
    client_id: job.clientId,
    status: 'queued',
    level: job.level,
    group_id: job.groupId ?? null,
    request_url: job.requestUrl,
    base_url: job.baseUrl,
    params: JSON.stringify(job.params),
    ignored: JSON.stringify(job.ignored),
    patient_keys: job.patientKeys ? JSON.stringify(job.patientKeys) : null,
    created_at: now,
    transaction_time: null,
    started_at: null,
    finished_at: null,
    expires_at: null,
    progress: null,
    manifest: null,
    error: null,
    attempts: 0,
  };
}

/** A client already has an export queued or running (one export per client at a time). */
export class ClientBusyError extends FhirBridgeError {
  /** ids of the client's queued or running jobs */
  readonly active: string[];
  constructor(active: string[]) {
    super(`an export of yours is still in progress (${active.join(', ')}); wait for it or DELETE it first`, {
      issueCode: 'throttled',
      status: 429,
    });
    this.active = active;
  }
}

/**
 * The job store cannot be reached or cannot write (database connection lost, disk full). The HTTP edge
 * answers 503 with Retry-After: the request can simply be repeated once the store is back; the runner
 * retries its writes (see JobRunner).
 */
export class JobStoreUnavailableError extends FhirBridgeError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(`the job store is unavailable (${detail}); try again later`, { issueCode: 'transient', status: 503, ...options });
  }
}
