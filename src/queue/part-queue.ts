// The boundary between an export's coordinator and the worker processes: parts (pipeline/part.ts) travel as
// pg-boss 10 jobs on one PostgreSQL queue, and come back as the job's completion output. pg-boss 10 has no
// heartbeat, so each taken part also holds a lease of ours (lease.ts) that its worker renews; the coordinator
// fails a part whose lease ran out, and pg-boss retries it on another worker.
import type { ExportPart, PartResult } from '../pipeline/part.js';
import type { SerializedError } from '../pipeline/part-errors.js';

/** The pg-boss queue every part goes to. */
export const PART_QUEUE = 'fhir-bridge-parts';

export interface QueueSettings {
  /** PostgreSQL URL of the queue (may be the source database or any other) */
  url: string;
  /** schema holding pg-boss's tables and our lease table (default `pgboss`) */
  schema?: string;
  /** seconds a part's lease lasts without a renewal before another worker may take the part over (default 30) */
  leaseSeconds?: number;
  /** tries of a part after its first (a lost lease or a failure each cost one; default 3) */
  retryLimit?: number;
}

export const DEFAULT_SCHEMA = 'pgboss';
export const DEFAULT_LEASE_SECONDS = 30;
export const DEFAULT_RETRY_LIMIT = 3;
/**
 * pg-boss's own expiry of an active job, a backstop for when no coordinator watches the leases (ours fail a
 * part within a lease; this one only if nobody is left to do so).
 */
export const BACKSTOP_EXPIRE_SECONDS = 4 * 3600;

/** A queued part: the part itself plus the lease length its worker must renew within. */
export interface PartJobData {
  part: ExportPart;
  leaseSeconds: number;
}

/** What a worker stores as the job's output. */
export type PartJobOutput = { ok: true; worker: string; result: PartResult } | { ok: false; worker: string; error: SerializedError };

export function resolveSettings(s: QueueSettings): Required<QueueSettings> {
  const schema = s.schema ?? DEFAULT_SCHEMA;
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`queue schema must be a lower-case SQL identifier, got "${schema}"`);
  return {
    url: s.url,
    schema,
    leaseSeconds: s.leaseSeconds ?? DEFAULT_LEASE_SECONDS,
    retryLimit: s.retryLimit ?? DEFAULT_RETRY_LIMIT,
  };
}
