// The boundary between a data source and the rest of fhir-bridge. Every adapter (one per dialect in
// src/connectors/dialects) implements SourceAdapter; nothing downstream knows which one it has.
import type { DialectName } from './registry.js';

/**
 * One source row. Keys are the column names LOWER-CASED (so mappings are case-insensitive and PostgreSQL,
 * MariaDB, SQL Server and Oracle agree). Values are what the driver gives, normalised just enough to be
 * portable: SQL NULL and CSV empty fields are `null`; dates/timestamps arrive as strings
 * ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS[.fff][+HH[:MM]]' or ISO 8601), never as JS Date objects built in the
 * process' local time zone; DECIMAL/NUMERIC as number or numeric string; BIGINT (also ROW_NUMBER(),
 * COUNT()) as string from the server databases (PostgreSQL, MariaDB, SQL Server; Oracle's NUMBER of
 * no declared precision too), as number from SQLite and DuckDB. So a number may come as text: the
 * mapping engine reads numeric text as a number wherever an expression uses a column with a number
 * (src/mapping/numeric-text.ts), and `$as` coercions accept both.
 */
export type Row = Record<string, unknown>;

export type FilterOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'is null' | 'is not null' | 'in query';

/** A condition pushed down to the source (SQL WHERE; applied in-process where the source cannot). */
export interface Filter {
  column: string;
  op: FilterOp;
  /** scalar for comparisons, array for 'in' / 'not in', absent for null tests and 'in query' */
  value?: unknown;
  /** 'in query' only: `(columns) IN (SELECT select.columns FROM select.query WHERE ...)`; `columns[0]` is `column` */
  columns?: string[];
  select?: { query: Pick<SourceQuery, 'table' | 'sql' | 'where'>; columns: string[] };
}

/** A canonical dialect name: one per descriptor registered in src/connectors/dialects/index.ts. */
export type Dialect = DialectName;

export interface SourceQuery {
  /** A table name (for CSV: the file stem, e.g. `patients` for patients.csv or patients.csv.gz) */
  table?: string;
  /** Or a SELECT statement, per dialect when they differ; adapters wrap it as a derived table so `where`,
   *  `orderBy` and `limit` still apply. `default` is used when the adapter's dialect has no entry. */
  sql?: string | Partial<Record<Dialect | 'default', string>>;
  /** ANDed together */
  where?: Filter[];
  orderBy?: string[];
  limit?: number;
  /**
   * The columns the caller reads (default: all). A SQL source selects only these, so a database can skip the
   * joins and aggregates behind the others (key-range sampling reads the key of every row); a file source may
   * still return more.
   */
  columns?: string[];
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** rows buffered ahead of the consumer (driver fetch size / cursor batch) */
  batchSize?: number;
  /**
   * Told of each source line that could not be read as a row (file sources: wrong number of fields, broken
   * quoting, bytes not valid in the file's encoding). The stream carries on past it. Without a listener such
   * a line fails the stream instead, so nothing is ever dropped unreported. A line may be told again when
   * the same file is read again (another mapping, a retry): the listener deduplicates by file and line.
   */
  onBadRow?: (issue: SourceRowIssue) => void;
}

/** A line of a file source that did not become a row (or, with severity 'warning', did but not intact). */
export interface SourceRowIssue {
  /** connector name */
  connector: string;
  table: string;
  file: string;
  /** 1-based line of the file where the bad record starts */
  line: number;
  /** the column at fault, when there is one (undecodable bytes) */
  column?: string;
  /** 'error': the line was skipped; 'warning': the row was read but a value is damaged */
  severity: 'error' | 'warning';
  message: string;
}

export interface SourceAdapter {
  readonly dialect: Dialect;
  /** Human-readable name for logs and errors (the connector name), never containing secrets */
  readonly name: string;
  /**
   * Rows of a query as an async iterable. Backpressure: the adapter reads ahead at most `batchSize` rows
   * (server-side cursor, driver streaming), whatever the table size. Breaking out of the loop or aborting
   * the signal releases the cursor/connection. Failures are ConnectorError naming the table/query.
   */
  stream(query: SourceQuery, options?: StreamOptions): AsyncIterable<Row>;
  /** Lower-cased column names a table or query yields (for `fhir-bridge validate`). */
  columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]>;
  /**
   * Optional: the lower-cased key columns of each index of a table (primary keys and unique constraints
   * included), in key order; [] when it has none. Absent where the source cannot tell or needs no advice
   * (CSV: its scratch copy is indexed by the adapter). `fhir-bridge validate` uses it to warn about child
   * joins that would scan a table per batch.
   */
  indexedColumns?(table: string): Promise<string[][]>;
  /**
   * Optional: the lower-cased names of the tables (and views) the source offers, sorted: the current schema of
   * a database (search_path, database(), SCHEMA_NAME(), the current Oracle schema), a SQLite file's tables,
   * the files of a CSV folder. `fhir-bridge coverage` reports every one of them; without it only the tables
   * the mappings name are.
   */
  tableNames?(): Promise<string[]>;
  /**
   * Optional: one consistent snapshot of the source for a whole export, so that the rows an export reads are
   * all as of one instant (no half-applied multi-row change, no row committed between two queries seen by
   * one and not the other) and the next `_since` export can start exactly where this one's snapshot ended.
   * Reads through `snapshot.adapter` see the snapshot; `release()` ends it (always call it). Each dialect
   * does what its database offers: PostgreSQL one REPEATABLE READ snapshot exported to every pooled
   * connection, MariaDB/MySQL connections that started their consistent snapshots together, SQLite one read
   * transaction (see the adapters, and the README's "Incremental exports" for the limits).
   */
  beginSnapshot?(options?: SnapshotOptions): Promise<SourceSnapshot>;
  /**
   * Optional: reads through the returned adapter see the snapshot another adapter (maybe in another thread
   * or process) began and named `SourceSnapshot.id`, for as long as that snapshot is held. Only sources whose
   * snapshot can be shared by id have it (PostgreSQL: SET TRANSACTION SNAPSHOT). When the snapshot is gone,
   * reads fail with SnapshotLostError (connectors/snapshot-lost.ts) rather than read the latest rows.
   */
  adoptSnapshot?(id: string): SourceAdapter;
  /**
   * Set by sources that keep no change times (files): mappings' `lastUpdated` and `deleted` are ignored for
   * them and `_since` is refused. The text says why, for that error.
   */
  readonly changesUnknown?: string;
  /** Throws a ConnectorError with a clear message when the source cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface SnapshotOptions {
  /** queries the export may have open at once (a dialect that pins connections to the snapshot needs as many) */
  concurrentReads?: number;
}

/** A consistent read of the source (SourceAdapter.beginSnapshot). */
export interface SourceSnapshot {
  /** reads through this see the snapshot; its close() does nothing (release() ends the snapshot) */
  readonly adapter: SourceAdapter;
  /**
   * The export's transactionTime, from the database's clock: every change the snapshot does not show was
   * stamped (by a last-updated trigger or default) at or after it, so `_since=<transactionTime>` finds it.
   */
  readonly transactionTime: Date;
  /** what a reader of the export should know about this snapshot's limits (e.g. a missing privilege) */
  readonly notes: string[];
  /** a name other adapters of the same source can adopt the snapshot by (SourceAdapter.adoptSnapshot), when it can be shared */
  readonly id?: string;
  release(): Promise<void>;
}

/** A parsed connectors/*.yaml file (after ${ENV} substitution). */
export interface ConnectorConfig {
  /** absolute path of the YAML file it came from (relative paths inside it resolve against its folder) */
  file: string;
  name: string;
  kind: Dialect;
  /** knex-style connection: URL string or object; for sqlite a file path */
  connection?: string | Record<string, unknown>;
  /** sqlite: database file; csv: folder holding the files */
  path?: string;
  /** csv: field delimiter (',' default; '|' for CMS RIF, '\t' for TSV) */
  delimiter?: string;
  /** csv/duckdb: character encoding of the files (a WHATWG label: utf-8 default, latin1, windows-1252…) */
  encoding?: string;
  /** csv: table name → file name, when it is not `<table>.csv[.gz]` / `<table>.txt` */
  files?: Record<string, string>;
  /** IANA zone used to read timestamps that carry no offset (default UTC) */
  timezone: string;
  /** mapping folders or files, relative to the connector file */
  mappings: string[];
  /** sqlite: build the database from a shipped sample when the file does not exist yet */
  sample?: string;
  /** connection pool size etc. */
  pool?: { min?: number; max?: number };
  /** issue 3: Group definitions (id → roster query); kept opaque here */
  groups?: Record<string, unknown>;
  /** anything else a specific adapter understands */
  options?: Record<string, unknown>;
  /** tables and columns left out on purpose, with the reason (`fhir-bridge coverage` counts them accounted for) */
  ignore?: Record<string, IgnoredTable>;
}

/** A connector's `ignore:` entry for one table: the whole table (a reason), or some of its columns. */
export type IgnoredTable = string | { reason?: string; columns: Record<string, string> };
