// Where export jobs live between requests and across restarts. Two implementations share one table
// layout (see JOB_TABLE_COLUMNS): SQLite (job-store-sqlite.ts, the default, a file in the data dir) and
// PostgreSQL (job-store-postgres.ts, for several server instances or managed databases).
import type { OperationOutcome } from 'fhir/r4';
import { FhirBridgeError } from '../errors.js';
import type { ExportJob, ExportManifest, JobStatus, NewJob } from './types.js';

export interface JobStore {
  /** Creates the table when missing. */
  init(): Promise<void>;
  /**
   * Stores a new queued job. A client (clientId not null: SMART mode) runs one export at a time: the check
   * "no queued or running job of this client" and the insert are one atomic step (a transaction holding a
   * per-client lock), so of concurrent kick-offs exactly one is stored and the others get ClientBusyError.
   * Open mode (clientId null) has no such limit.
   */
  create(job: NewJob): Promise<ExportJob>;
  get(id: string): Promise<ExportJob | undefined>;
  /** queued → running, attempts + 1, new transactionTime; false when the job is no longer queued */
  start(id: string, transactionTime: string): Promise<boolean>;
  progress(id: string, text: string): Promise<void>;
  /** running → completed; false when the job was cancelled meanwhile */
  complete(id: string, manifest: ExportManifest, expiresAt: string): Promise<boolean>;
  /** queued|running → failed */
  fail(id: string, outcome: OperationOutcome, expiresAt: string): Promise<boolean>;
  /** running → queued (a restart re-runs it); `refund` un-counts the run (a clean shutdown is no failure) */
  requeue(id: string, refund?: boolean): Promise<boolean>;
  /** queued|running|completed|failed → cancelled; returns the job as it was, undefined when unknown */
  cancel(id: string): Promise<ExportJob | undefined>;
  /** completed|failed|cancelled → expired */
  expire(id: string): Promise<void>;
  /** jobs in these states, oldest first */
  list(statuses: JobStatus[]): Promise<ExportJob[]>;
  /** queued or running jobs of a client (null: open mode) */
  active(clientId: string | null): Promise<ExportJob[]>;
  /** completed or failed jobs whose files expired before `now`, and cancelled ones */
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
