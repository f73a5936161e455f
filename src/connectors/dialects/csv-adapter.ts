// A folder of CSV files as a source. Plain scans stream straight from the file (filters applied here);
// queries that need SQL (a `sql:` source, ORDER BY, or the IN lists of child batches) run on a scratch
// SQLite database in the temp folder into which the files they need are copied once, on first need.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ConnectorError } from '../../errors.js';
import { csvEncoding, listTables, locateTable, readCsv, readCsvHeader, type CsvFolderOptions, type CsvLineIssue } from '../csv-files.js';
import { filterRows } from '../filter-eval.js';
import { makeScratchFolder, removeScratchFolder } from '../scratch-folder.js';
import { SqliteAdapter } from './sqlite-adapter.js';
import { sqlFor } from '../sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, SourceRowIssue, StreamOptions } from '../types.js';

const STAGE_BATCH = 2000;

interface Scratch {
  dir: string;
  file: string;
  db: Database.Database;
  reader: SqliteAdapter;
  /** table → promise of its staging, so concurrent first uses copy a file once */
  tables: Map<string, Promise<void>>;
  indexes: Set<string>;
  /** table → the lines its copy skipped or flagged, told to every query that reads the copy */
  badRows: Map<string, SourceRowIssue[]>;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export class CsvAdapter implements SourceAdapter {
  readonly dialect = 'csv' as const;
  readonly name: string;
  get changesUnknown(): string {
    return `${this.name} reads CSV files, which keep no change times (no last-updated column, no deletions); export everything instead`;
  }
  private readonly folder: CsvFolderOptions;
  private scratch?: Promise<Scratch>;
  private closed = false;

  constructor(name: string, folder: CsvFolderOptions) {
    this.name = name;
    this.folder = folder;
  }

  /** The scratch database's folder once one exists (it is deleted by close()). */
  async scratchFolder(): Promise<string | undefined> {
    return this.scratch ? (await this.scratch).dir : undefined;
  }

  private needsSql(query: SourceQuery): boolean {
    return query.sql !== undefined || (query.orderBy?.length ?? 0) > 0 || (query.where ?? []).some((f) => f.op === 'in');
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    if (this.needsSql(query)) {
      yield* await this.staged(query, options);
      return;
    }
    if (!query.table) throw new ConnectorError(`${this.name}: a query needs a table or sql`);
    const source = await this.locate(query.table);
    const { onBadRow } = options;
    const rows = readCsv(source, {
      signal: options.signal,
      quote: this.folder.quote,
      encoding: this.folder.encoding,
      ...(onBadRow ? { onBadRow: (issue: CsvLineIssue) => onBadRow({ connector: this.name, ...issue }) } : {}),
    });
    yield* filterRows(rows, query.where, query.limit);
  }

  private async locate(table: string) {
    try {
      return await locateTable(this.folder, table);
    } catch (err) {
      throw new ConnectorError(`${this.name}: ${(err as Error).message}`);
    }
  }

  /** The query run on the scratch database, after the tables it reads have been copied there. */
  private async staged(query: SourceQuery, options: StreamOptions): Promise<AsyncIterable<Row>> {
    const scratch = await this.openScratch();
    const sql = query.sql === undefined ? undefined : sqlFor(query, 'csv');
    if (query.sql !== undefined && sql === undefined)
      throw new ConnectorError(`${this.name}: the query has no SQL for csv, sqlite or default`);
    const tables = query.table ? [query.table.toLowerCase()] : await this.tablesIn(sql!);
    for (const table of tables) await this.stageTable(scratch, table);
    this.tellBadRows(scratch, tables, options);
    if (query.table) {
      const indexed = [...(query.where ?? []).filter((f) => f.op === 'in').map((f) => f.column), ...(query.orderBy ?? []).slice(0, 1)];
      for (const column of indexed)
        this.ensureIndex(scratch, query.table.toLowerCase(), column.replace(/\s+(asc|desc)$/i, '').toLowerCase());
    }
    // Only IN lists and null tests go into SQL: the scratch columns are TEXT, and SQLite would compare
    // `age > 10` as text. Comparisons run here, as on a plain scan, so both paths agree.
    const pushed = (query.where ?? []).filter((f) => f.op === 'in' || f.op === 'is null' || f.op === 'is not null');
    const kept = (query.where ?? []).filter((f) => !pushed.includes(f));
    const staged: SourceQuery = { table: query.table?.toLowerCase(), sql, where: pushed, orderBy: query.orderBy };
    if (sql === undefined) delete staged.sql;
    if (kept.length === 0) return scratch.reader.stream({ ...staged, limit: query.limit }, options);
    return filterRows(scratch.reader.stream(staged, options), kept, query.limit);
  }

  /**
   * The bad lines of the copies a query reads, told to its listener each time (the copy is made once, but
   * each export that reads it must hear of them; the listener deduplicates within an export). Without a
   * listener a skipped line fails the query, as it would fail a plain read.
   */
  private tellBadRows(scratch: Scratch, tables: string[], options: StreamOptions): void {
    for (const table of tables) {
      for (const issue of scratch.badRows.get(table) ?? []) {
        if (options.onBadRow) options.onBadRow(issue);
        else if (issue.severity === 'error')
          throw new ConnectorError(`${this.name}: table ${issue.table}: ${issue.file}:${issue.line}: ${issue.message}`);
      }
    }
  }

  /** CSV tables a SQL text mentions: every word that names a file of the folder. */
  private async tablesIn(sql: string): Promise<string[]> {
    const available = new Set(await listTables(this.folder));
    const words = new Set((sql.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).map((w) => w.toLowerCase()));
    return [...words].filter((w) => available.has(w));
  }

  private openScratch(): Promise<Scratch> {
    if (this.closed) return Promise.reject(new ConnectorError(`${this.name}: adapter is closed`));
    this.scratch ??= (async () => {
      const dir = await makeScratchFolder('fhir-bridge-csv-');
      const file = path.join(dir, 'scratch.sqlite');
      const db = new Database(file);
      // WAL lets open read cursors (a parent scan) coexist with the copy of another file (its children).
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF');
      return {
        dir,
        file,
        db,
        reader: new SqliteAdapter(this.name, file, 'csv'),
        tables: new Map(),
        indexes: new Set(),
        badRows: new Map(),
      };
    })();
    return this.scratch;
  }

  private stageTable(scratch: Scratch, table: string): Promise<void> {
    let staging = scratch.tables.get(table);
    if (!staging) {
      staging = this.copyTable(scratch, table);
      scratch.tables.set(table, staging);
      staging.catch(() => scratch.tables.delete(table));
    }
    return staging;
  }

  private async copyTable(scratch: Scratch, table: string): Promise<void> {
    const source = await this.locate(table);
    const { db } = scratch;
    let insert: Database.Statement | undefined;
    let columns: string[] = [];
    let batch: unknown[][] = [];
    const flush = db.transaction((rows: unknown[][]) => {
      for (const r of rows) insert!.run(r);
    });
    const tmp = `${table}__loading`;
    const create = (header: string[]): void => {
      columns = [...new Set(header)];
      db.exec(`drop table if exists ${quoteIdent(tmp)}`);
      db.exec(`create table ${quoteIdent(tmp)} (${columns.map((c) => `${quoteIdent(c)} TEXT`).join(', ')})`);
      insert = db.prepare(`insert into ${quoteIdent(tmp)} values (${columns.map(() => '?').join(', ')})`);
    };
    const badRows: SourceRowIssue[] = [];
    scratch.badRows.set(table, badRows);
    const onBadRow = (issue: CsvLineIssue): void => {
      badRows.push({ connector: this.name, ...issue });
    };
    for await (const row of readCsv(source, { quote: this.folder.quote, encoding: this.folder.encoding, onHeader: create, onBadRow })) {
      batch.push(columns.map((c) => row[c] ?? null));
      if (batch.length >= STAGE_BATCH) {
        flush(batch);
        batch = [];
      }
    }
    if (!insert) create(await readCsvHeader(source, this.folder.quote, this.folder.encoding));
    flush(batch);
    // Renamed only when complete, so a failed copy never looks like a (short) table.
    db.exec(`alter table ${quoteIdent(tmp)} rename to ${quoteIdent(table)}`);
  }

  private ensureIndex(scratch: Scratch, table: string, column: string): void {
    const key = `${table}.${column}`;
    if (scratch.indexes.has(key)) return;
    const cols = (scratch.db.prepare(`select name from pragma_table_info(?)`).all(table) as Array<{ name: string }>).map((c) => c.name);
    if (!cols.includes(column)) return; // the query will fail with SQLite's own "no such column" message
    scratch.db.exec(`create index if not exists ${quoteIdent(`ix_${table}_${column}`)} on ${quoteIdent(table)} (${quoteIdent(column)})`);
    scratch.indexes.add(key);
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    if (query.sql === undefined && query.table) {
      const source = await this.locate(query.table);
      return readCsvHeader(source, this.folder.quote, this.folder.encoding);
    }
    const scratch = await this.openScratch();
    const sql = sqlFor(query, 'csv');
    if (sql === undefined) throw new ConnectorError(`${this.name}: the query has no SQL for csv, sqlite or default`);
    for (const table of await this.tablesIn(sql)) await this.stageTable(scratch, table);
    return scratch.reader.columns({ sql });
  }

  async tableNames(): Promise<string[]> {
    return listTables(this.folder);
  }

  async ping(): Promise<void> {
    try {
      const s = await stat(this.folder.folder);
      if (!s.isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw new ConnectorError(`${this.name}: CSV folder ${this.folder.folder} cannot be read: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.scratch;
    this.scratch = undefined;
    if (!pending) return;
    const scratch = await pending.catch(() => undefined);
    if (!scratch) return;
    await Promise.allSettled([...scratch.tables.values()]);
    scratch.db.close();
    await removeScratchFolder(scratch.dir);
  }
}

export async function openCsv(config: ConnectorConfig): Promise<SourceAdapter> {
  if (!config.path) throw new ConnectorError(`${config.name}: a csv connector needs 'path' (the folder holding the files)`);
  const quote = config.options?.quote;
  return new CsvAdapter(config.name, {
    folder: config.path,
    files: config.files,
    delimiter: config.delimiter,
    quote: quote === false || quote === '' || quote === null ? false : typeof quote === 'string' ? quote : undefined,
    encoding: encodingOf(config),
  });
}

/** The connector's `encoding`, checked when the connector is opened rather than at the first read. */
export function encodingOf(config: ConnectorConfig): string {
  try {
    return csvEncoding(config.encoding);
  } catch (err) {
    throw new ConnectorError(`${config.name}: ${(err as Error).message}`);
  }
}
