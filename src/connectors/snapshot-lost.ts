// A part that was told to read an export's shared snapshot (ExportPart.snapshot) and cannot adopt it: the
// connection that holds the snapshot open ended (a failover, a kill). Reading the latest rows instead would
// mix two states of the source in one export without anyone noticing, so the part fails with this; the
// coordinator (run-parted-export.ts) then runs the whole export again in a fresh snapshot, or fails cleanly.
import { ConnectorError } from '../errors.js';

export class SnapshotLostError extends ConnectorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    // not transient for the part: its retry would hit the same vanished snapshot
    super(message, { ...options, transient: false });
    this.name = 'SnapshotLostError';
  }
}

/** The error, or one it was wrapped in (a mapping run's located failure keeps it as `cause`). */
export function isSnapshotLost(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if (e instanceof SnapshotLostError || (e as { name?: unknown }).name === 'SnapshotLostError') return true;
  return false;
}
