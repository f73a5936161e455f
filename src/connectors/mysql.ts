// MySQL / MariaDB through mysql2. Rows stream off the socket with the connection paused whenever
// `batchSize` rows wait unread; dates stay strings, DECIMAL and BIGINT stay exact strings.
import mysql from 'mysql2';
import type { FieldPacket, Pool, PoolConnection, PoolOptions } from 'mysql2';
import { ConnectorError } from '../errors.js';
import { normaliseRow, throwIfAborted } from './normalise.js';
import { connectorFailure, redactConnection, secretsOf } from './redact.js';
import { buildSelect, queryLabel } from './sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, StreamOptions } from './types.js';

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

export class MysqlAdapter implements SourceAdapter {
  readonly dialect = 'mysql' as const;
  readonly name: string;
  private readonly pool: Pool;
  private readonly secrets: string[];
  private readonly where: string;

  constructor(config: ConnectorConfig) {
    this.name = config.name;
    this.secrets = secretsOf(config.connection);
    this.where = redactConnection(config);
    this.pool = mysql.createPool(poolOptions(config));
    // DATETIME has no zone; the loader writes UTC and TIMESTAMP columns convert through the session zone.
    this.pool.on('connection', (conn) => {
      conn.query(`SET time_zone = '+00:00'`, () => undefined);
    });
  }

  private connection(what: string): Promise<PoolConnection> {
    return new Promise((resolve, reject) => {
      this.pool.getConnection((err, conn) => {
        if (err) reject(connectorFailure(this.name, `cannot connect to ${this.where} (for ${what})`, err, this.secrets));
        else resolve(conn);
      });
    });
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const what = queryLabel(query);
    const built = buildSelect('mysql', query);
    throwIfAborted(options.signal);
    const conn = await this.connection(what);
    const batchSize = Math.max(1, options.batchSize ?? 1000);
    const rows = conn.query({ sql: built.sql, values: built.bindings }).stream({ highWaterMark: batchSize });
    const onAbort = (): void => void rows.destroy(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let complete = false;
    try {
      for await (const raw of rows as AsyncIterable<Record<string, unknown>>) {
        throwIfAborted(options.signal);
        yield normaliseRow(raw);
      }
      complete = true;
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw connectorFailure(this.name, what, err, this.secrets);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // A result cannot be abandoned half-read on the MySQL protocol without reading the rest; closing the
      // connection stops the server instead, and the pool opens a fresh one when needed.
      if (complete) conn.release();
      else {
        rows.on('error', () => undefined);
        conn.destroy();
      }
    }
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect('mysql', query, { noRows: true });
    try {
      const [, fields] = await this.pool.promise().query({ sql: built.sql, values: built.bindings });
      return ((fields ?? []) as FieldPacket[]).map((f) => f.name.toLowerCase());
    } catch (err) {
      throw connectorFailure(this.name, queryLabel(query), err, this.secrets);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.pool.promise().query('select 1');
    } catch (err) {
      throw connectorFailure(this.name, `cannot connect to ${this.where}`, err, this.secrets);
    }
  }

  async close(): Promise<void> {
    await this.pool.promise().end();
  }
}

export async function openMysql(config: ConnectorConfig): Promise<SourceAdapter> {
  if (config.connection === undefined) throw new ConnectorError(`${config.name}: a mysql connector needs 'connection'`);
  return new MysqlAdapter(config);
}
