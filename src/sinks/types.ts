// The boundary between the pipeline and where resources go (NDJSON files on disk today).
import type { OperationOutcome } from 'fhir/r4';
import type { FhirResource } from '../mapping/types.js';

export interface OutputFile {
  /** resourceType of every line in the file ('OperationOutcome' for error files) */
  type: string;
  /** absolute path */
  path: string;
  count: number;
  bytes: number;
}

export interface SinkResult {
  /** resource files in the order they were finished */
  output: OutputFile[];
  /** OperationOutcome files for rows that could not be mapped (and ignored parameters) */
  error: OutputFile[];
  /** files of transaction Bundles of DELETE entries (`_since` exports of mappings that declare deletions) */
  deleted?: OutputFile[];
}

/** One line of a `deleted` file (Bulk Data IG 2.0, export manifest `deleted`). */
export interface DeletedBundle {
  resourceType: 'Bundle';
  type: 'transaction';
  meta?: { lastUpdated: string };
  entry: Array<{ request: { method: 'DELETE'; url: string } }>;
}

export interface ResourceSink {
  /** Resolves when the resource is accepted; waits (backpressure) when the underlying stream is full. */
  write(resource: FhirResource): Promise<void>;
  writeError(outcome: OperationOutcome): Promise<void>;
  /** Records deleted resources (a sink without it cannot take a `_since` export that lists deletions). */
  writeDeleted?(bundle: DeletedBundle): Promise<void>;
  /** Flushes and closes every file. */
  close(): Promise<SinkResult>;
  /** Closes and deletes what was written (cancelled job). */
  abort(): Promise<void>;
}
