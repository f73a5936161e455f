// The part: the unit of work of an export, the same one whether it runs on this thread, on a worker thread of
// the warm pool (worker-pool.ts) or, later, on a worker process taking it from a PostgreSQL queue. A part is
// plain data (structured-clone and JSON safe but for `Date`/Buffer patient keys), so it can travel; whoever
// runs it re-plans the export from the same request and picks its own mapping run, so the plan never has to.
// A part writes only its own files (`<prefix>~partNNNNNN.<Type>.NNNNNN.ndjson`), replacing any an earlier try
// left, so running it again is harmless; assemble-parts.ts turns the parts' files into the export's files.
import type { Filter } from '../connectors/types.js';
import type { SinkResult } from '../sinks/types.js';
import type { SourceRowIssue } from '../connectors/types.js';
import type { ExportSummary } from './types.js';
import type { ValidationSummary } from './validate-resource.js';

/** What the export asked for: the part of an ExportRequest that can travel (no adapter, sink or callback). */
export interface PartRequest {
  types?: string[];
  /** `_since` as an ISO instant */
  since?: string;
  patientKeys?: unknown[];
  typeFilters?: Record<string, Filter[][]>;
  elements?: string[];
  batchSize?: number;
  retry?: { retries?: number; minTimeoutMs?: number; maxTimeoutMs?: number };
  /** validate each resource against its profile (the thread's shared validator); failures go to the error file */
  validate?: boolean;
}

export interface ExportPart {
  /** the export (job id, or a CLI run's id) this part belongs to */
  exportId: string;
  /** position in the export: the parts' files are assembled in this order, so output is deterministic */
  index: number;
  /** connector file the source and the mappings come from (undefined: the embedded sample) */
  connectorFile?: string;
  request: PartRequest;
  /** which run of planExport(request) this part reads (checked against `mapping` when it runs) */
  run: number;
  mapping: string;
  /** folder the part's files go to; `filePrefix` names them (assemble-parts.ts renames them) */
  dir: string;
  filePrefix: string;
  gzip: boolean;
  maxResourcesPerFile: number;
  /**
   * A consistent view of the source shared by every part of one export: the id of the snapshot the
   * coordinator began and holds until every part is done (PostgreSQL: pg_export_snapshot(), which each of
   * the part's connections adopts with SET TRANSACTION SNAPSHOT; SourceAdapter.adoptSnapshot). A part that
   * cannot adopt it any more fails with SnapshotLostError instead of reading later rows.
   */
  snapshot?: string;
  /** add Provenance resources (includeAssociatedData) for what this part writes */
  provenance?: { recorded: string; sourceName: string };
  /** only the rows of this key range of the run (a big mapping cut into several parts: key-ranges.ts) */
  range?: KeyRange;
}

/**
 * A slice of a mapping run by the first column of its key, as the source orders and compares it:
 * `from <= column < to` (either end open), or the rows whose column is NULL. Bounds are key values read
 * from the source, so the source's own collation decides, never JavaScript's.
 */
export interface KeyRange {
  column: string;
  from?: string | number;
  to?: string | number;
  /** the rows with no value in the column (no range holds them) */
  nulls?: boolean;
}

/** What a part reports when it is done: its files and the tally of what it wrote. */
export interface PartResult {
  index: number;
  mapping: string;
  files: SinkResult;
  counts: Record<string, number>;
  rowsRead: number;
  rejected: ExportSummary['rejected'];
  /** rows of the part's source table(s): read / exported / rejected (summary.json `sources`) */
  sources: NonNullable<ExportSummary['sources']>;
  /** lines the source could not read as rows; the coordinator writes each once per export */
  sourceIssues: SourceRowIssue[];
  /** what validation found, when the request asked for it */
  validation?: ValidationSummary;
}

/** Progress a running part reports (cumulative for the part). */
export interface PartProgress {
  index: number;
  rowsRead: number;
  resourcesWritten: number;
}

/** File prefix of one part: sorts before no final file name (`~`), unique per export and part. */
export function partFilePrefix(exportPrefix: string, index: number): string {
  return `${exportPrefix}~part${String(index).padStart(6, '0')}.`;
}
