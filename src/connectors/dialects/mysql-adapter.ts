// MySQL / MariaDB through mysql2. Rows stream off the socket with the connection paused whenever
// `batchSize` rows wait unread; dates stay strings, DECIMAL and BIGINT stay exact strings.
import mysql from 'mysql2';
import type { FieldPacket, Pool, PoolConnection, PoolOptions } from 'mysql2';
import { groupIndexColumns, indexColumnsQuery, tableCatalogueQuery, catalogueTables } from '../index-columns.js';
import { normaliseRow } from '../normalise.js';
import { requireConnection, ServerAdapter, streamStatement } from '../server-adapter.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, StreamOptions } from '../types.js';

/** Driver settings that keep values portable (see Row in types.ts); they override the connector's own. */
export const PORTABLE_VALUES = {
  dateStrings: true,
  supportBigNumbers: true,
  bigNumberStrings: true,
  decimalNumbers: false,
  timezone: 'Z',
} as const;

function poolOptions(config: ConnectorConfig): PoolOptions {
  const c = config.connection;
  const base: PoolOptions = typeof c === 'string' ? { uri: c.replace(/^mariadb:/i, 'mysql:') } : { ...(c as PoolOptions) };
  return {
    ...base,
    ...PORTABLE_VALUES,
    connectionLimit: config.pool?.max ?? base.connectionLimit ?? 10,
    connectTimeout: base.connectTimeout ?? Number(config.options?.connectTimeoutMs ?? 15_000),
  };
}

export class MysqlAdapter extends ServerAdapter implements SourceAdapter {
  readonly dialect = 'mysql' as const;
  private readonly pool: Pool;

  constructor(config: ConnectorConfig) {
    super(config);
    this.pool = mysql.createPool(poolOptions(config));
    // DATETIME has no zone; the loader writes UTC and TIMESTAMP columns convert through the session zone.
    this.pool.on('connection', (conn) => {
      conn.query(`SET time_zone = '+00:00'`, () => undefined);
    });
  }

  private connection(what: string): Promise<PoolConnection> {
    return new Promise((resolve, reject) => {
      this.pool.getConnection((err, conn) => {
        if (err) reject(this.cannotConnect(what, err));
        else resolve(conn);
      });
    });
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const { what, built, batchSize } = streamStatement(this.dialect, query, options);
    const conn = await this.connection(what);
    const rows = conn.query({ sql: built.sql, values: built.bindings }).stream({ highWaterMark: batchSize });
    // mysql2 tells a query without a callback nothing when its connection is lost (KILL, reset): only the
    // connection emits 'error', and the row stream would wait forever. End it with that error instead.
    const lost = (err: Error): void => void rows.destroy(err);
    conn.on('error', lost);
    yield* this.drain({
      what,
      rows: rows as AsyncIterable<Record<string, unknown>>,
      normalise: normaliseRow,
      signal: options.signal,
      abort: () => void rows.destroy(options.signal?.reason),
      finish: (complete) => {
        conn.off('error', lost);
        // A result cannot be abandoned half-read on the MySQL protocol without reading the rest; closing the
        // connection stops the server instead, and the pool opens a fresh one when needed.
        if (complete) conn.release();
        else {
          rows.on('error', () => undefined);
          conn.destroy();
        }
      },
    });
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect(this.dialect, query, { noRows: true });
    try {
      const [, fields] = await this.pool.promise().query({ sql: built.sql, values: built.bindings });
      return ((fields ?? []) as FieldPacket[]).map((f) => f.name.toLowerCase());
    } catch (err) {
      throw this.failure(queryLabel(query), err);
    }
  }

  async indexedColumns(table: string): Promise<string[][]> {
    const { sql, bindings } = indexColumnsQuery(this.dialect, table);
    try {
      const [rows] = await this.pool.promise().query({ sql, values: bindings });
      return groupIndexColumns(rows as Array<Record<string, unknown>>);
    } catch (err) {
      throw this.failure(`indexes of table ${table}`, err);
    }
  }

  async tableNames(): Promise<string[]> {
    const { sql, bindings } = tableCatalogueQuery(this.dialect);
    try {
      const [rows] = await this.pool.promise().query({ sql, values: bindings });
      return catalogueTables(rows as Array<Record<string, unknown>>);
    } catch (err) {
      throw this.failure('list of tables', err);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.pool.promise().query('select 1');
    } catch (err) {
      throw this.failure(`cannot connect to ${this.where}`, err);
    }
  }

  async close(): Promise<void> {
    await this.pool.promise().end();
  }
}

export async function openMysql(config: ConnectorConfig): Promise<SourceAdapter> {
  requireConnection(config);
  return new MysqlAdapter(config);
}
