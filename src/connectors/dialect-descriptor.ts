// What fhir-bridge knows about one kind of source, in one object per dialect (src/connectors/dialects/*.ts),
// the way knex gives each dialect its own client class. Nothing outside a descriptor switches on a dialect
// name: the connector file check, the adapter loader, the SQL builder, `validate`'s index advice and the
// integration tests' private databases all read these fields.
import type { ConnectorConfig, SourceAdapter } from './types.js';

/** How the dialect spells a SourceQuery; knex builds it (it needs no connection, so no driver loads). */
export interface SqlSpelling {
  /** the knex client whose SQL and placeholders the database reads ($1, ?, @p0, :1) */
  knexClient: string;
  /** an unquoted identifier as the database folds it (so PATIENT, patient and Patient all match); default: unchanged */
  foldIdentifier?(name: string): string;
  /** a Date filter value (as its UTC ISO text) in the form the database compares with its temporal columns; default: ISO */
  bindDate?(iso: string): string;
}

/** A statement listing a table's index keys as (index_name, column_name) rows in key order. */
export interface IndexCatalogueQuery {
  sql: string;
  bindings: unknown[];
}

/** A private schema/database on a test server, dropped again by cleanup(). */
export interface ProvisionedDatabase {
  /** URL of the private schema/database (credentials included: for tests only) */
  url: string;
  /** name of the private schema (PostgreSQL), database (MariaDB, SQL Server) or user (Oracle) */
  schema: string;
  /** connector settings beyond `connection` that reach the private schema (PostgreSQL: options.schema) */
  connector?: Partial<ConnectorConfig>;
  cleanup(): Promise<void>;
}

/** How the integration tests get a database of this dialect (see test/support/databases.ts). */
export interface TestDatabaseFactory {
  /** the variable naming a server to use, e.g. TEST_POSTGRES_URL */
  envVar: string;
  /** an example value for it, shown when the tests skip */
  example: string;
  /** the key of docker/images.json (and service of docker/compose.yaml) pinning the server image */
  image: string;
  /** a private schema/database on the server at `url` (a unique `name`) */
  provision(url: string, name: string): Promise<ProvisionedDatabase>;
  /** starts a throw-away server from the pinned image (testcontainers); resolves to its admin URL */
  container(image: string): Promise<{ url: string; stop(): Promise<unknown> }>;
}

export interface DialectDescriptor {
  /** the canonical `kind` (also the key of a mapping's per-dialect `sql:` variants) */
  name: string;
  /** other spellings accepted as `kind` in a connector file */
  aliases: readonly string[];
  /** how error messages list it, e.g. 'mysql (mariadb)' */
  label?: string;
  /** the npm package the adapter needs; a missing one fails with "npm install <it>" */
  driverPackage: string;
  /** opens the adapter; the descriptor imports its driver lazily here, so loading the registry loads none */
  open(config: ConnectorConfig): Promise<SourceAdapter>;
  /** what a connector file must give: a `path` (a file or folder) or a `connection` */
  needs: 'path' | 'connection';
  /** what `path` names, for the error when it is missing (e.g. 'the database file') */
  pathHint?: string;
  /** a `path` read from `connection` when the file gives none (SQLite: `connection: { filename }`) */
  pathFromConnection?(connection: unknown): string | undefined;
  /** whether `sample: synthea` may name a shipped sample for it (it can be loaded with load-sample) */
  holdsSample?: boolean;
  /** how SQL is spelled; absent for a dialect that runs its SQL on another engine (CSV: scratch SQLite) */
  sql?: SqlSpelling;
  /** the `sql:` variants a mapping may give for it, tried after its own name and before `default` */
  sqlFallback?: readonly string[];
  /**
   * mappings an export runs at once by default: 1 where rows are read in this process (SQLite, files, DuckDB),
   * where a second would only compete for the same CPU; 2 for database servers
   */
  exportConcurrency: number;
  /** largest number of bound parameters in one statement (the pipeline's IN lists must fit) */
  maxBindParameters: number;
  /** largest number of values in one IN list, where lower than maxBindParameters (Oracle: 1000) */
  maxInList?: number;
  /** the catalogue query behind SourceAdapter.indexedColumns, for server dialects */
  indexCatalogue?(table: string): IndexCatalogueQuery;
  /** the catalogue query behind SourceAdapter.tableNames, for server dialects: one `table_name` per row */
  tableCatalogue?: IndexCatalogueQuery;
  /** integration tests' private databases; absent for in-process sources (SQLite, CSV, DuckDB) */
  testDatabase?: TestDatabaseFactory;
}
