// What running an export means, independent of who asks (CLI `export`, the $export job runner, benchmarks).
import type { Filter, SourceAdapter } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import type { ResourceSink, SinkResult } from '../sinks/types.js';
import type { ProfileValidator } from '../validation/index.js';
import type { RetryInfo, RetryPolicy } from './run-mapping.js';
import type { ValidationSummary } from './validate-resource.js';

export interface ExportRequest {
  adapter: SourceAdapter;
  mappings: CompiledMappingSet;
  sink: ResourceSink;
  /** only mappings emitting these resourceTypes run; resources of other types they emit are dropped */
  types?: string[];
  /** only rows changed after this instant (pushed down through each mapping's lastUpdated column; a
   *  mapping without one exports all its rows) */
  since?: Date;
  /** only rows of these patients: values of the source patient column (not FHIR ids) */
  patientKeys?: unknown[];
  /** per resourceType, alternative filter sets (OR of ANDs) from `_typeFilter`, already translated to
   *  source columns through the mapping's `search` table */
  typeFilters?: Record<string, Filter[][]>;
  /** keep only these elements (plus mandatory ones) – `_elements` */
  elements?: string[];
  signal?: AbortSignal;
  onProgress?: (progress: ExportProgress) => void;
  /** parent rows per child-fetch batch (children come with one IN query per batch, never per row) */
  batchSize?: number;
  /** mappings run at the same time (default 1 for sqlite/csv sources, 2 for database servers) */
  concurrency?: number;
  /** retries of a query whose source failed transiently (default DEFAULT_RETRY in run-mapping.ts) */
  retry?: Partial<RetryPolicy>;
  /** told of each transient source failure about to be retried (for logs) */
  onRetry?: (info: RetryInfo) => void;
  /** read one consistent snapshot when the adapter offers one (default true) */
  snapshot?: boolean;
  /** validate each resource against its meta.profile before writing it (see validate-resource.ts);
   *  absent: no validation */
  validator?: ProfileValidator;
}

export interface ExportProgress {
  mapping: string;
  mappingsDone: number;
  mappingsTotal: number;
  rowsRead: number;
  resourcesWritten: number;
}

export interface ExportSummary {
  /** resources written per resourceType */
  counts: Record<string, number>;
  /** rows read per mapping */
  rowsRead: Record<string, number>;
  /** issues written, by severity and by reason (message without the row-specific part) */
  rejected: { total: number; bySeverity: Record<string, number>; byReason: Record<string, number> };
  durationMs: number;
  files: SinkResult;
  /** profile validation counts and must-support coverage, when the export validated */
  validation?: ValidationSummary;
  /** things a reader of the result should know, e.g. a mapping that could not apply `_since` */
  notes?: string[];
  /** rows per source table: read, exported (gave a resource), rejected (an error dropped a resource); per mapping too */
  sources?: Record<string, SourceRowCounts & { mappings: Record<string, SourceRowCounts> }>;
  /**
   * Where the next incremental export starts (`_since` / `--since`): the source snapshot's time from the
   * database clock, or, for a source without snapshots, the process clock when the export began.
   */
  transactionTime: string;
  /** deleted resources listed (DELETE entries of the `deleted` Bundles) */
  deleted: number;
}

export interface SourceRowCounts {
  read: number;
  exported: number;
  rejected: number;
}
