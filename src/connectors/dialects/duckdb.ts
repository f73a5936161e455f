// DuckDB as a source, descriptor and adapter in one file (the proof that a database is one file plus one
// line in dialects/index.ts). `path` is a folder of CSV files (named as the CSV connector names them:
// `<table>.csv[.gz]`, `.txt`, `.tsv`, or the `files:` map; `delimiter:` as there) and/or Parquet files
// (`<table>.parquet`; `options.format: parquet` ignores the CSV files), or a `.duckdb` database file. The
// SQL is knex's PostgreSQL spelling, which DuckDB reads ($1 placeholders, double-quoted identifiers).
//
// A folder's file becomes a table of a scratch DuckDB database (in the temp folder, removed on close) the
// first time a query reads it: copied once, where a view over the file would parse it again for every
// child batch. Values come out as the CSV connector gives them: CSV columns are text, header names
// trimmed and lower-cased, an empty field NULL. Over such text columns, comparisons in `where` run
// in-process (as the CSV connector does) so `age > 10` never compares text; only IN lists and null tests
// go into the SQL. A database file has typed columns, so every filter goes into its SQL.
//
// Rows are read one DuckDB data chunk (2048 rows) at a time, pulled only when the consumer has taken the
// previous one; every stream has its own connection, interrupted on abort and closed when the loop ends.
// The driver (@duckdb/node-api) is imported only when a duckdb connector is opened.
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import { ConnectorError } from '../../errors.js';
import { csvEncoding, listTables, locateTable, transcoder, type CsvFolderOptions, type PipelineStage } from '../csv-files.js';
import type { DialectDescriptor } from '../dialect-descriptor.js';
import { filterRows } from '../filter-eval.js';
import { portableValue, throwIfAborted } from '../normalise.js';
import { catalogueTables } from '../index-columns.js';
import { connectorFailure } from '../redact.js';
import { makeScratchFolder, removeScratchFolder } from '../scratch-folder.js';
import { buildSelect, queryLabel, sqlFor } from '../sql-builder.js';
import type { ConnectorConfig, Filter, Row, SourceAdapter, SourceQuery, SourceRowIssue, StreamOptions } from '../types.js';

export const duckdb: DialectDescriptor = {
  name: 'duckdb',
  aliases: [],
  driverPackage: '@duckdb/node-api',
  open: async (config) => openDuckdb(config),
  needs: 'path',
  pathHint: 'a folder of CSV or Parquet files, or a .duckdb database file',
  sql: { knexClient: 'pg', foldIdentifier: (name) => name.toLowerCase() },
  // DuckDB reads PostgreSQL's SQL (casts, DATE arithmetic, window functions); SQLite's `sqlite:` variants
  // divide by text columns, which DuckDB refuses without a cast
  sqlFallback: ['postgres'],
  exportConcurrency: 1,
  maxBindParameters: 65_535,
};

const PARQUET = /^(.+?)\.parquet$/i;

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const sqlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** A DuckDB value as the Row contract has it: temporal values and exact decimals as text, no driver objects. */
export function duckdbValue(value: DuckDBValue): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return portableValue(value);
  // DATE, TIME, TIMESTAMP[TZ], DECIMAL (exact digits), UUID, INTERVAL, lists...: DuckDB's own text for them
  return String(value);
}

/** How a folder's table is read into the working database: the SELECT over its file. */
interface FolderTable {
  name: string;
  select: string;
  /** CSV files: the table DuckDB keeps the lines it could not read in, and the file to name in reports */
  rejects?: { table: string; file: string };
}

/**
 * One CSV file: every column as text, its name trimmed and lower-cased, an empty field NULL. A line DuckDB
 * cannot read (wrong number of fields, bytes not in the encoding) is skipped and kept in a rejects table, so
 * that it is reported instead of silently missing. Files in another encoding than UTF-8 are transcoded into
 * the scratch folder first: DuckDB itself reads only UTF-8, UTF-16 and ISO-8859-1.
 */
async function csvTable(conn: DuckDBConnection, folder: CsvFolderOptions, table: string, scratch: string): Promise<FolderTable> {
  const source = await locateTable(folder, table);
  const encoding = csvEncoding(folder.encoding);
  let file = source.file;
  let gzip = source.gzip;
  if (encoding !== 'utf-8') {
    file = path.join(scratch, `${table}.utf8.csv`);
    const stages: PipelineStage[] = [createReadStream(source.file)];
    if (gzip) stages.push(createGunzip());
    await pipeline([...stages, transcoder(encoding), createWriteStream(file)]);
    gzip = false;
  }
  const settings = [`header = true`, `all_varchar = true`, `delim = ${sqlString(source.delimiter)}`];
  if (typeof folder.quote === 'string') settings.push(`quote = ${sqlString(folder.quote)}`);
  if (gzip) settings.push(`compression = 'gzip'`);
  const reader = (extra: string[]): string => `read_csv(${sqlString(file)}, ${[...settings, ...extra].join(', ')})`;
  const described = await conn.runAndReadAll(`describe select * from ${reader([`ignore_errors = true`])}`);
  const columns = described.getRowObjectsJS().map((c) => String(c.column_name));
  const select = columns.map((c) => `nullif(${quoteIdent(c)}, '') as ${quoteIdent(c.trim().toLowerCase())}`).join(', ');
  const rejects = `rejects_${table}`;
  const storeRejects = [`store_rejects = true`, `rejects_table = ${sqlString(rejects)}`, `rejects_scan = ${sqlString(`${rejects}_scan`)}`];
  return { name: table, select: `select ${select} from ${reader(storeRejects)}`, rejects: { table: rejects, file: source.file } };
}

/** The folder's tables: the CSV connector's file naming, then `<table>.parquet` for tables no CSV file gives. */
type Describe = (conn: DuckDBConnection, scratch: string) => Promise<FolderTable>;

async function folderTables(folder: CsvFolderOptions, format: string | undefined): Promise<Map<string, Describe>> {
  const tables = new Map<string, Describe>();
  const mapped = new Map(Object.entries(folder.files ?? {}).map(([t, f]) => [t.toLowerCase(), f]));
  const parquet = new Map<string, string>();
  for (const entry of await readdir(folder.folder)) {
    const m = PARQUET.exec(entry);
    if (m) parquet.set(m[1]!.toLowerCase(), path.join(folder.folder, entry));
  }
  for (const [table, file] of mapped) if (PARQUET.test(file)) parquet.set(table, path.resolve(folder.folder, file));
  if (format !== 'parquet') {
    for (const table of await listTables(folder)) {
      if (!PARQUET.test(mapped.get(table) ?? '')) tables.set(table, (conn, scratch) => csvTable(conn, folder, table, scratch));
    }
  }
  for (const [table, file] of parquet) {
    if (!tables.has(table)) tables.set(table, async () => ({ name: table, select: `select * from read_parquet(${sqlString(file)})` }));
  }
  return tables;
}

/** An IN list against text columns, with numbers as text (as SQLite's TEXT affinity compares them). */
function asText(filter: Filter): Filter {
  if (filter.op !== 'in' || !Array.isArray(filter.value)) return filter;
  return { ...filter, value: filter.value.map((v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : v)) };
}

/**
 * The DuckDB database the queries run on. For a folder it is a scratch file in the temp folder into which a
 * table's file is copied on first use (once: a view would parse the file again for every child batch), so
 * memory stays flat however large the files are.
 */
interface Engine {
  instance: DuckDBInstance;
  /** scratch folder of a folder source, removed by close() */
  scratch?: string;
  /** folder sources: table → how to copy it in, and the copies made or under way */
  tables?: Map<string, Describe>;
  staged: Map<string, Promise<void>>;
  /** table → the lines its copy skipped, told to every query that reads the copy */
  badRows: Map<string, SourceRowIssue[]>;
}

/**
 * One thread, and the join's build side as written: DuckDB then returns the rows of a query without ORDER BY
 * in a fixed order, mostly SQLite's (scan order of the first table, DISTINCT keeping first occurrences), so
 * an export's files do not depend on the engine; parallel hash joins would shuffle them. The exception is a
 * LEFT JOIN's misses, which DuckDB emits after each chunk's matches where SQLite keeps them in place.
 */
const SETTINGS = { threads: '1', disabled_optimizers: 'build_side_probe_side' };

export class DuckdbAdapter implements SourceAdapter {
  readonly dialect = 'duckdb' as const;
  readonly name: string;
  private engine?: Promise<Engine>;
  private readonly connections = new Set<DuckDBConnection>();
  private closed = false;

  /** a folder of files keeps no change times; a .duckdb database file may (its tables' own columns) */
  readonly changesUnknown?: string;

  constructor(private readonly config: ConnectorConfig & { path: string }) {
    this.name = config.name;
    if (!/\.(duckdb|db)$/i.test(config.path))
      this.changesUnknown = `${config.name} reads files (${config.path}), which keep no change times; export everything instead`;
  }

  private fail(what: string, err: unknown): Error {
    return err instanceof ConnectorError ? err : connectorFailure(this.name, what, err, []);
  }

  private start(): Promise<Engine> {
    if (this.closed) return Promise.reject(new ConnectorError(`${this.name}: adapter is closed`));
    this.engine ??= (async (): Promise<Engine> => {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const where = this.config.path;
      const info = await stat(where).catch((err: Error) => {
        throw new ConnectorError(`${this.name}: DuckDB source ${where} cannot be read: ${err.message}`);
      });
      if (!info.isDirectory())
        return {
          instance: await DuckDBInstance.create(where, { ...SETTINGS, access_mode: 'READ_ONLY' }),
          staged: new Map(),
          badRows: new Map(),
        };
      const quote = this.config.options?.quote;
      const folder: CsvFolderOptions = {
        folder: where,
        files: this.config.files,
        delimiter: this.config.delimiter,
        quote: typeof quote === 'string' ? quote : undefined,
        encoding: this.config.encoding,
      };
      const format = typeof this.config.options?.format === 'string' ? this.config.options.format.toLowerCase() : undefined;
      const tables = await folderTables(folder, format);
      const scratch = await makeScratchFolder('fhir-bridge-duckdb-');
      try {
        return {
          instance: await DuckDBInstance.create(path.join(scratch, 'scratch.duckdb'), SETTINGS),
          scratch,
          tables,
          staged: new Map(),
          badRows: new Map(),
        };
      } catch (err) {
        await removeScratchFolder(scratch);
        throw err;
      }
    })().catch((err: unknown) => {
      this.engine = undefined;
      throw this.fail(`open ${this.config.path}`, err);
    });
    return this.engine;
  }

  /**
   * Copies the folder tables a query reads (its table, or every table name its SQL mentions) into the
   * scratch database; returns those tables.
   */
  private async stage(engine: Engine, query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const { tables } = engine;
    if (!tables) return [];
    let names: string[];
    if (query.table) names = [query.table.toLowerCase()];
    else {
      const sql = sqlFor(query, 'duckdb') ?? '';
      names = [...new Set((sql.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).map((w) => w.toLowerCase()))];
    }
    const read = names.filter((n) => tables.has(n));
    for (const name of read) {
      let staging = engine.staged.get(name);
      if (!staging) {
        staging = this.copy(engine, tables.get(name)!);
        engine.staged.set(name, staging);
        staging.catch(() => engine.staged.delete(name));
      }
      await staging;
    }
    return read;
  }

  private async copy(engine: Engine, describe: Describe): Promise<void> {
    const conn = await engine.instance.connect();
    try {
      const table = await describe(conn, engine.scratch!);
      await conn.run(`create table ${quoteIdent(table.name)} as ${table.select}`);
      if (table.rejects) engine.badRows.set(table.name, await this.rejectedLines(conn, table.name, table.rejects));
    } finally {
      conn.closeSync();
    }
  }

  /** The lines DuckDB skipped while copying a file (one issue per line, its first reason). */
  private async rejectedLines(conn: DuckDBConnection, table: string, rejects: { table: string; file: string }): Promise<SourceRowIssue[]> {
    const result = await conn.runAndReadAll(
      `select line, any_value(column_name order by column_idx) as column_name, any_value(error_message order by column_idx) as error_message ` +
        `from ${quoteIdent(rejects.table)} group by line order by line`,
    );
    await conn.run(`drop table if exists ${quoteIdent(rejects.table)}; drop table if exists ${quoteIdent(`${rejects.table}_scan`)}`);
    return result.getRowObjectsJS().map((r) => ({
      connector: this.name,
      table,
      file: rejects.file,
      line: Number(r.line),
      severity: 'error' as const,
      message: String(r.error_message),
      ...(r.column_name ? { column: String(r.column_name) } : {}),
    }));
  }

  /** Tells a query's listener the lines skipped in the copies it reads; without one such a line fails it. */
  private tellBadRows(engine: Engine, tables: string[], options: StreamOptions): void {
    for (const table of tables) {
      for (const issue of engine.badRows.get(table) ?? []) {
        if (options.onBadRow) options.onBadRow(issue);
        else throw new ConnectorError(`${this.name}: table ${issue.table}: ${issue.file}:${issue.line}: ${issue.message}`);
      }
    }
  }

  /** A connection of its own for one call, once the tables the query reads are in place. */
  private async connect(
    query?: Pick<SourceQuery, 'table' | 'sql'>,
    options: StreamOptions = { onBadRow: () => {} },
  ): Promise<DuckDBConnection> {
    const engine = await this.start();
    if (query) this.tellBadRows(engine, await this.stage(engine, query), options);
    const conn = await engine.instance.connect();
    this.connections.add(conn);
    return conn;
  }

  private release(conn: DuckDBConnection): void {
    if (this.connections.delete(conn)) conn.closeSync();
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const textOnly = (await this.start()).tables !== undefined;
    // over text-only views a comparison in SQL would compare text: those filters (and so the limit) run here
    const inSql = (f: Filter): boolean => !textOnly || f.op === 'in' || f.op === 'is null' || f.op === 'is not null';
    const kept = (query.where ?? []).filter((f) => !inSql(f));
    const where = (query.where ?? []).filter(inSql).map((f) => (textOnly ? asText(f) : f));
    const pushed: SourceQuery = { ...query, where, limit: kept.length === 0 ? query.limit : undefined };
    const rows = this.read(pushed, options);
    yield* kept.length === 0 ? rows : filterRows(rows, kept, query.limit);
  }

  private async *read(query: SourceQuery, options: StreamOptions): AsyncGenerator<Row> {
    const { signal } = options;
    const what = queryLabel(query);
    const built = buildSelect('duckdb', query);
    throwIfAborted(signal);
    const conn = await this.connect(query, options);
    throwIfAborted(signal);
    const onAbort = (): void => conn.interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await conn.stream(built.sql, built.bindings as DuckDBValue[]);
      const keys = result.columnNames().map((c) => c.toLowerCase());
      for (;;) {
        throwIfAborted(signal);
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        for (const values of chunk.getRows()) {
          throwIfAborted(signal);
          const row: Row = {};
          for (let i = 0; i < keys.length; i++) row[keys[i]!] = duckdbValue(values[i]!);
          yield row;
        }
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw this.fail(what, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.release(conn);
    }
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect('duckdb', query, { noRows: true });
    const conn = await this.connect(query);
    try {
      const result = await conn.run(built.sql, built.bindings as DuckDBValue[]);
      return result.columnNames().map((c) => c.toLowerCase());
    } catch (err) {
      throw this.fail(queryLabel(query), err);
    } finally {
      this.release(conn);
    }
  }

  async tableNames(): Promise<string[]> {
    const engine = await this.start();
    if (engine.tables) return [...engine.tables.keys()].sort();
    const conn = await this.connect();
    try {
      const result = await conn.runAndReadAll(
        `select table_name from information_schema.tables where table_schema = current_schema() order by 1`,
      );
      return catalogueTables(result.getRowObjectsJS() as Array<Record<string, unknown>>);
    } catch (err) {
      throw this.fail('list of tables', err);
    } finally {
      this.release(conn);
    }
  }

  async ping(): Promise<void> {
    const conn = await this.connect();
    try {
      await conn.run('select 1');
    } catch (err) {
      throw this.fail('ping', err);
    } finally {
      this.release(conn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.engine;
    this.engine = undefined;
    for (const conn of this.connections) conn.closeSync();
    this.connections.clear();
    const engine = await pending?.catch(() => undefined);
    if (!engine) return;
    await Promise.allSettled(engine.staged.values());
    engine.instance.closeSync();
    if (engine.scratch) await removeScratchFolder(engine.scratch);
  }
}

export async function openDuckdb(config: ConnectorConfig): Promise<SourceAdapter> {
  if (!config.path) throw new ConnectorError(`${config.name}: a duckdb connector needs 'path' (${duckdb.pathHint})`);
  // fails here, not at the first query, when the package is missing (openAdapter turns that into "npm install")
  await import('@duckdb/node-api');
  try {
    csvEncoding(config.encoding);
  } catch (err) {
    throw new ConnectorError(`${config.name}: ${(err as Error).message}`);
  }
  return new DuckdbAdapter({ ...config, path: config.path });
}
