// The boundary between the mapping language and the pipeline: what a mapping file compiles to.
// The pipeline fetches rows (and child rows) with the queries below and hands them to `map`; it never
// looks inside templates. See mappings/README.md for the language itself.
import type { Resource } from 'fhir/r4';
import type { Filter, Row, SourceQuery } from '../connectors/types.js';
import type { SourceLocation } from '../errors.js';

export type FhirResource = Resource & { resourceType: string; id: string };

/** A problem with one source row, reported in the export's OperationOutcome file; never aborts a run. */
export interface RowIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  /** OperationOutcome issue code: 'value' (bad date/number), 'code-invalid' (unmapped code),
   *  'required' (missing key/required column), 'not-supported' (row matched no resource), 'processing' */
  code: 'value' | 'code-invalid' | 'required' | 'not-supported' | 'processing' | 'invalid';
  message: string;
  /** mapping name and where in its file the failing template node is */
  mapping: string;
  location?: SourceLocation;
  /** source table (or 'query') and the row's key values, so a person can find the row */
  table: string;
  key: Record<string, unknown>;
  /** the column at fault, when there is one */
  column?: string;
  /** resourceType of the resource that was dropped, when one was */
  resourceType?: string;
  /** FHIRPath of the element at fault, e.g. 'Patient.birthDate' */
  expression?: string;
}

export interface MapResult {
  resources: FhirResource[];
  issues: RowIssue[];
}

export interface CompiledChild {
  /** name used by `$each` in templates */
  name: string;
  /** table or sql, plus any static `where` of the child declaration */
  query: SourceQuery;
  /** join: child column → parent column (lower-cased) */
  on: Array<{ child: string; parent: string }>;
  orderBy: string[];
  /** where the child's changes are found, so a parent is re-exported by `_since` when one of its child
   *  rows changed: a column of the child's rows, or of another table holding the child's `on` columns */
  lastUpdated?: ChildLastUpdated;
}

export interface ChildLastUpdated {
  column: string;
  /** the table to look in; absent: the child's own table or sql (whose rows then carry the column) */
  table?: string;
}

/** Where a mapping's deleted rows are found, for the `deleted` list of a `_since` export. */
export type CompiledDeleted =
  | {
      kind: 'tombstone';
      /** the tombstone table or sql, with its static `where` */
      query: SourceQuery;
      /** tombstone columns holding the deleted row's key values, in the order of source.key */
      key: string[];
      /** tombstone column: when the row was deleted */
      at: string;
      /** tombstone column holding the patient key (patient and Group exports need it) */
      patient?: string;
    }
  | {
      /** soft delete: a column of the source that is set when a row is deleted (NULL while it is not) */
      kind: 'column';
      column: string;
    };

export interface CompiledResource {
  resourceType: string;
  profiles: string[];
  location: SourceLocation;
  /** the `id:` template as written, when the resource has one (otherwise its id is the key hash) */
  idTemplate?: string;
}

export interface CompiledMapping {
  name: string;
  /** absolute path of the YAML file */
  file: string;
  location: SourceLocation;
  source: {
    /** table or sql plus the static `where` of the mapping */
    query: SourceQuery;
    /** the table name, or 'query' for sql sources (for error reports) */
    label: string;
    key: string[];
    /** patient compartment column (lower-cased), if the rows belong to a patient */
    patient?: string;
    /** last-updated column: fills meta.lastUpdated, lets `_since` push down */
    lastUpdated?: string;
    /** where deleted rows are found (`_since` exports list them under `deleted`) */
    deleted?: CompiledDeleted;
  };
  children: CompiledChild[];
  resources: CompiledResource[];
  /** FHIR search parameter name → source column, used to push `_typeFilter` down (may be empty) */
  search: Record<string, string>;
  /** resourceTypes this mapping can emit (union of `resources`) */
  resourceTypes: string[];
  /**
   * Map one row (and, per child name, its child rows in orderBy order) to resources. Pure and
   * synchronous; row-level problems come back as issues (the affected resource is dropped, the others of
   * the row are kept). A row for which no resource's `when` holds yields one 'not-supported' information
   * issue so every source row is accounted for.
   */
  map(row: Row, children?: Record<string, Row[]>): MapResult;
  /** The row's key values by (lower-cased) key column, null when absent: what row issues carry so that a
   *  person can find the row. */
  keyOf(row: Row): Record<string, unknown>;
  /** FHIR id the given resourceType would get for these key values (used to turn `Patient/x` back into
   *  a source value, and for references). */
  idFor(resourceType: string, key: unknown[]): string | undefined;
  /** When the resource id is an invertible template of the key ("{Id}", "pat-{Id}"), the key values for
   *  an id; otherwise undefined. Used to push `patient=Patient/x` down as a WHERE on the patient column. */
  keyForId?(resourceType: string, id: string): unknown[] | undefined;
}

export interface CompiledMappingSet {
  mappings: CompiledMapping[];
  byName: Map<string, CompiledMapping>;
  /** every resourceType any mapping emits */
  resourceTypes: string[];
}

export type { Filter };
