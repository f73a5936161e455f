// Oracle through node-oracledb in Thin mode (no Instant Client). Rows come from queryStream with
// `fetchArraySize` = batchSize. Dates, timestamps, CLOBs and non-integer NUMBERs are fetched as text
// converted by the server with the session formats set below, so no value passes through a JS Date built
// in the process' time zone and decimals keep their digits.
import oracledbModule from 'oracledb';
import type { Readable } from 'node:stream';
import { ConnectorError } from '../errors.js';
import { normaliseRow, throwIfAborted } from './normalise.js';
import { connectorFailure, redactConnection, secretsOf } from './redact.js';
import { buildSelect, queryLabel } from './sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, StreamOptions } from './types.js';

/** The constants of oracledb this adapter uses. */
export interface OracleTypes {
  DB_TYPE_DATE: unknown;
  DB_TYPE_TIMESTAMP: unknown;
  DB_TYPE_TIMESTAMP_TZ: unknown;
  DB_TYPE_TIMESTAMP_LTZ: unknown;
  DB_TYPE_NUMBER: unknown;
  DB_TYPE_CLOB: unknown;
  DB_TYPE_NCLOB: unknown;
  STRING: unknown;
}

interface OracleConnection {
  execute(sql: string, binds?: unknown[], options?: Record<string, unknown>): Promise<{ metaData?: Array<{ name: string }> }>;
  queryStream(sql: string, binds: unknown[], options: Record<string, unknown>): Readable;
  close(): Promise<void>;
}
interface OraclePool {
  getConnection(): Promise<OracleConnection>;
  close(drainTime?: number): Promise<void>;
}
interface OracleDb extends OracleTypes {
  OUT_FORMAT_OBJECT: unknown;
  createPool(config: Record<string, unknown>): Promise<OraclePool>;
}

const oracledb = oracledbModule as OracleDb;

/** Session formats: what the server writes dates and timestamps as when they are fetched as text. */
export const SESSION_SETUP =
  `ALTER SESSION SET TIME_ZONE = 'UTC' NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS' ` +
  `NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF3' NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF3TZH:TZM' ` +
  `NLS_NUMERIC_CHARACTERS = '.,'`;

/**
 * How a column is fetched: temporal types, LOB text and NUMBERs that are not small integers as strings;
 * everything else as the driver's default.
 */
export function oracleFetchType(
  meta: { dbType?: unknown; precision?: number; scale?: number },
  types: OracleTypes,
): { type: unknown } | undefined {
  switch (meta.dbType) {
    case types.DB_TYPE_DATE:
    case types.DB_TYPE_TIMESTAMP:
    case types.DB_TYPE_TIMESTAMP_TZ:
    case types.DB_TYPE_TIMESTAMP_LTZ:
    case types.DB_TYPE_CLOB:
    case types.DB_TYPE_NCLOB:
      return { type: types.STRING };
    case types.DB_TYPE_NUMBER: {
      const smallInteger = meta.scale === 0 && (meta.precision ?? 0) > 0 && (meta.precision ?? 0) <= 15;
      return smallInteger ? undefined : { type: types.STRING };
    }
    default:
      return undefined;
  }
}

/** Oracle returns unquoted names in upper case; rows use lower case like every other adapter. */
export function normaliseOracleRow(raw: Record<string, unknown>): Row {
  return normaliseRow(raw);
}

/** oracledb settings from a URL (`oracle://user:pass@host:1521/SERVICE`) or a map (user, password, connectString). */
export function oracleConfig(connection: ConnectorConfig['connection']): Record<string, unknown> {
  if (typeof connection !== 'string') return { ...(connection as Record<string, unknown>) };
  if (!/^oracle:\/\//i.test(connection)) return { connectString: connection };
  const url = new URL(connection);
  return {
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    connectString: `${url.hostname}:${url.port || 1521}${url.pathname}`,
  };
}

export class OracleAdapter implements SourceAdapter {
  readonly dialect = 'oracle' as const;
  readonly name: string;
  private pool?: Promise<OraclePool>;
  private readonly config: ConnectorConfig;
  private readonly secrets: string[];
  private readonly where: string;

  constructor(config: ConnectorConfig) {
    this.name = config.name;
    this.config = config;
    this.secrets = secretsOf(config.connection);
    this.where = redactConnection(config);
  }

  private async connection(what: string): Promise<OracleConnection> {
    try {
      this.pool ??= oracledb.createPool({
        ...oracleConfig(this.config.connection),
        poolMin: this.config.pool?.min ?? 0,
        poolMax: this.config.pool?.max ?? 10,
        sessionCallback: (conn: OracleConnection, _tag: string, done: (err?: Error) => void) => {
          conn.execute(SESSION_SETUP).then(() => done(), done);
        },
      });
      return await (await this.pool).getConnection();
    } catch (err) {
      this.pool = undefined;
      throw connectorFailure(this.name, `cannot connect to ${this.where} (for ${what})`, err, this.secrets);
    }
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const what = queryLabel(query);
    const built = buildSelect('oracle', query);
    throwIfAborted(options.signal);
    const conn = await this.connection(what);
    const batchSize = Math.max(1, options.batchSize ?? 1000);
    const rows = conn.queryStream(built.sql, built.bindings, {
      outFormat: oracledb.OUT_FORMAT_OBJECT,
      fetchArraySize: batchSize,
      prefetchRows: batchSize,
      fetchTypeHandler: (meta: { dbType?: unknown; precision?: number; scale?: number }) => oracleFetchType(meta, oracledb),
    });
    const onAbort = (): void => void rows.destroy(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const raw of rows as AsyncIterable<Record<string, unknown>>) {
        throwIfAborted(options.signal);
        yield normaliseOracleRow(raw);
      }
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw connectorFailure(this.name, what, err, this.secrets);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // The result set must be closed (stream 'close') before its connection goes back to the pool.
      rows.on('error', () => undefined);
      const closed = rows.closed ? Promise.resolve() : new Promise((resolve) => rows.once('close', resolve));
      if (!rows.destroyed) rows.destroy();
      await closed;
      await conn.close().catch(() => undefined);
    }
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect('oracle', query, { noRows: true });
    const conn = await this.connection(queryLabel(query));
    try {
      const result = await conn.execute(built.sql, built.bindings, { outFormat: oracledb.OUT_FORMAT_OBJECT });
      return (result.metaData ?? []).map((m) => m.name.toLowerCase());
    } catch (err) {
      throw connectorFailure(this.name, queryLabel(query), err, this.secrets);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    const conn = await this.connection('ping');
    try {
      await conn.execute('select 1 from dual');
    } catch (err) {
      throw connectorFailure(this.name, `cannot reach ${this.where}`, err, this.secrets);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await (await pool.catch(() => undefined))?.close(0);
  }
}

export async function openOracle(config: ConnectorConfig): Promise<SourceAdapter> {
  if (config.connection === undefined) throw new ConnectorError(`${config.name}: an oracle connector needs 'connection'`);
  return new OracleAdapter(config);
}
