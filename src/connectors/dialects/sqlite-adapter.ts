// SQLite through better-sqlite3. Each stream gets its own read-only connection: better-sqlite3 keeps a
// connection busy while an iterator is open, and the pipeline fetches child rows while a parent scan runs.
// A snapshot (beginSnapshot) is the exception: one connection in one read transaction serves every query,
// in better-sqlite3's unsafe mode, which lets a statement run while another one's iterator is open.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConnectorError } from '../../errors.js';
import { throwIfAborted, rowBuilder } from '../normalise.js';
import { connectorFailure } from '../redact.js';
import { EXPRESSION_KEY, splitTableName, catalogueTables } from '../index-columns.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import type { ConnectorConfig, Dialect, Row, SourceAdapter, SourceQuery, SourceSnapshot, StreamOptions } from '../types.js';

export class SqliteAdapter implements SourceAdapter {
  readonly dialect: Dialect;
  readonly name: string;
  readonly file: string;
  /** the snapshot's connection, which every call uses (and none closes) */
  private readonly pinned: Database.Database | undefined;

  /** `dialect` is 'csv' when this reads a CSV connector's scratch database. */
  constructor(name: string, file: string, dialect: Dialect = 'sqlite', pinned?: Database.Database) {
    this.name = name;
    this.file = file;
    this.dialect = dialect;
    this.pinned = pinned;
  }

  private done(db: Database.Database): void {
    if (db !== this.pinned) db.close();
  }

  /**
   * One read transaction for the whole export. Writers are waited out first (a write transaction taken and
   * given back at once), so every change the snapshot misses was written after transactionTime: SQLite's
   * triggers stamp a change when its statement runs, which may be well before its commit. A file this
   * process may not write to gets the read transaction alone (and a note).
   */
  async beginSnapshot(): Promise<SourceSnapshot> {
    const notes: string[] = [];
    let gate: Database.Database | undefined;
    try {
      gate = new Database(this.file, { fileMustExist: true, timeout: 10_000 });
      gate.exec('BEGIN IMMEDIATE');
    } catch (err) {
      gate?.close();
      gate = undefined;
      notes.push(
        `snapshot of ${this.file}: could not wait for writers (${(err as Error).message}); a change committed while the export ` +
          'started may be missed by the next _since export',
      );
    }
    let db: Database.Database | undefined;
    try {
      db = this.connect();
      db.unsafeMode(true);
      db.exec('BEGIN');
      // a deferred transaction's snapshot starts at its first read of the database
      db.prepare('select count(*) from sqlite_master').get();
      const now = (db.prepare(`select strftime('%Y-%m-%dT%H:%M:%fZ', 'now') as now`).get() as { now: string }).now;
      const snapshotDb = db;
      return {
        adapter: new SqliteAdapter(this.name, this.file, this.dialect, snapshotDb),
        transactionTime: new Date(now),
        notes,
        release: async () => {
          if (!snapshotDb.open) return;
          if (snapshotDb.inTransaction) snapshotDb.exec('COMMIT');
          snapshotDb.close();
        },
      };
    } catch (err) {
      db?.close();
      throw connectorFailure(this.name, 'begin a snapshot', err, []);
    } finally {
      if (gate) {
        gate.exec('ROLLBACK');
        gate.close();
      }
    }
  }

  private connect(): Database.Database {
    if (this.pinned) return this.pinned;
    if (this.file !== ':memory:' && !existsSync(this.file))
      throw new ConnectorError(`${this.name}: SQLite database ${this.file} does not exist`);
    try {
      return new Database(this.file, { readonly: true, fileMustExist: true, timeout: 10_000 });
    } catch (err) {
      throw connectorFailure(this.name, `open ${this.file}`, err, []);
    }
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const what = queryLabel(query);
    const built = buildSelect('sqlite', query);
    const db = this.connect();
    try {
      let iterator: IterableIterator<unknown[]>;
      let toRow: (values: readonly unknown[]) => Row;
      try {
        const stmt = db.prepare(built.sql).raw(true).safeIntegers(true);
        toRow = rowBuilder(stmt.columns().map((c) => c.name));
        iterator = stmt.iterate(...(built.bindings as unknown[])) as IterableIterator<unknown[]>;
      } catch (err) {
        throw connectorFailure(this.name, what, err, []);
      }
      try {
        // Pulling one row at a time from SQLite's cursor: nothing is read ahead, whatever batchSize says.
        for (;;) {
          throwIfAborted(options.signal);
          let next: IteratorResult<unknown[]>;
          try {
            next = iterator.next();
          } catch (err) {
            throw connectorFailure(this.name, what, err, []);
          }
          if (next.done) break;
          yield toRow(next.value);
        }
      } finally {
        iterator.return?.();
      }
    } finally {
      this.done(db);
    }
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const db = this.connect();
    try {
      const built = buildSelect('sqlite', query, { noRows: true });
      return db
        .prepare(built.sql)
        .columns()
        .map((c) => c.name.toLowerCase());
    } catch (err) {
      throw connectorFailure(this.name, queryLabel(query), err, []);
    } finally {
      this.done(db);
    }
  }

  async indexedColumns(table: string): Promise<string[][]> {
    const { schema, table: name } = splitTableName(table);
    const prefix = schema ? `"${schema.replace(/"/g, '""')}".` : '';
    const db = this.connect();
    try {
      const lists = (db.prepare(`pragma ${prefix}index_list(${sqlString(name)})`).all() as Array<{ name: string }>).map((index) =>
        (db.prepare(`pragma ${prefix}index_info(${sqlString(index.name)})`).all() as Array<{ seqno: number; name: string | null }>)
          .sort((a, b) => a.seqno - b.seqno)
          .map((c) => (c.name === null ? EXPRESSION_KEY : c.name.toLowerCase())),
      );
      // An INTEGER PRIMARY KEY is the rowid itself: indexed, yet absent from index_list.
      const pk = (
        db.prepare(`pragma ${prefix}table_info(${sqlString(name)})`).all() as Array<{ name: string; type: string; pk: number }>
      ).filter((c) => c.pk > 0);
      if (pk.length === 1 && pk[0]!.type.toUpperCase() === 'INTEGER') lists.push([pk[0]!.name.toLowerCase()]);
      return lists;
    } catch (err) {
      throw connectorFailure(this.name, `indexes of table ${table}`, err, []);
    } finally {
      this.done(db);
    }
  }

  async tableNames(): Promise<string[]> {
    const db = this.connect();
    try {
      const rows = db
        .prepare(`select name as table_name from sqlite_master where type in ('table', 'view') and name not like 'sqlite\\_%' escape '\\'`)
        .all() as Array<Record<string, unknown>>;
      return catalogueTables(rows);
    } catch (err) {
      throw connectorFailure(this.name, 'list of tables', err, []);
    } finally {
      db.close();
    }
  }

  async ping(): Promise<void> {
    const db = this.connect();
    try {
      db.prepare('select 1').get();
    } catch (err) {
      throw connectorFailure(this.name, 'ping', err, []);
    } finally {
      this.done(db);
    }
  }

  async close(): Promise<void> {
    // connections live only as long as one call; nothing to release
  }
}

const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export async function openSqlite(config: ConnectorConfig): Promise<SourceAdapter> {
  const file = config.path;
  if (!file) throw new ConnectorError(`${config.name}: a sqlite connector needs 'path'`);
  return new SqliteAdapter(config.name, file);
}
