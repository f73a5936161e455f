// A part's failure crosses a thread (or, later, a process) boundary as plain data and becomes the same typed
// error on the other side, so the job's OperationOutcome and a transient source failure's retry behave as
// if the part had run here.
import { isSnapshotLost, SnapshotLostError } from '../connectors/snapshot-lost.js';
import { ConnectorError, FhirBridgeError } from '../errors.js';
import type { PartResult } from './part.js';

export interface SerializedError {
  name: string;
  message: string;
  issueCode?: string;
  status?: number;
  transient?: boolean;
  /** the part could not adopt the export's snapshot (the coordinator may run the export again in a new one) */
  snapshotLost?: boolean;
}

export type PartTaskResult = { ok: true; result?: PartResult } | { ok: false; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  return {
    name: err.name,
    message: err.message,
    ...(err instanceof FhirBridgeError ? { issueCode: err.issueCode, status: err.status } : {}),
    ...(err instanceof ConnectorError ? { transient: err.transient } : {}),
    ...(isSnapshotLost(err) ? { snapshotLost: true } : {}),
  };
}

export function reviveError(e: SerializedError): Error {
  if (e.snapshotLost) return new SnapshotLostError(e.message);
  if (e.name === 'ConnectorError') return new ConnectorError(e.message, { transient: e.transient ?? false });
  if (e.issueCode !== undefined) {
    const err = new FhirBridgeError(e.message, { issueCode: e.issueCode as FhirBridgeError['issueCode'], status: e.status ?? 500 });
    err.name = e.name;
    return err;
  }
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
