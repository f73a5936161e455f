// Oracle through node-oracledb in Thin mode (no Instant Client). A query is executed as a ResultSet and
// read with getRows(batchSize), so at most one batch is held ahead of the consumer; leaving early or
// aborting closes the ResultSet (breaking a running call) before the connection goes back to the pool.
// Thin mode ignores the session's NLS formats when it converts DATE/TIMESTAMP to text (it calls
// Date#toString()), so those are fetched as JS Dates and written as text here; NUMBERs that are not small
// integers are fetched as the server's exact digits.
import oracledbModule from 'oracledb';
import { ConnectorError } from '../../errors.js';
import { groupIndexColumns, indexColumnsQuery, tableCatalogueQuery, catalogueTables } from '../index-columns.js';
import { normaliseRow, throwIfAborted, zeroPad } from '../normalise.js';
import { requireConnection, ServerAdapter, streamStatement } from '../server-adapter.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, StreamOptions } from '../types.js';

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

export interface OracleResultSet {
  getRows(count: number): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}
export interface OracleConnection {
  execute(
    sql: string,
    binds?: unknown[],
    options?: Record<string, unknown>,
  ): Promise<{ metaData?: Array<{ name: string }>; resultSet?: OracleResultSet; rows?: Array<Record<string, unknown>> }>;
  breakExecution(): Promise<void>;
  close(): Promise<void>;
}
export interface OraclePool {
  getConnection(): Promise<OracleConnection>;
  close(drainTime?: number): Promise<void>;
}
interface OracleDb extends OracleTypes {
  OUT_FORMAT_OBJECT: unknown;
  createPool(config: Record<string, unknown>): Promise<OraclePool>;
}

const oracledb = oracledbModule as OracleDb;

/**
 * Session settings: UTC for TIMESTAMP WITH LOCAL TIME ZONE and SYSDATE arithmetic, and the formats the
 * server uses to read bound text as a DATE/TIMESTAMP (sql-builder binds Dates as 'YYYY-MM-DD HH24:MI:SS').
 */
export const SESSION_SETUP =
  `ALTER SESSION SET TIME_ZONE = 'UTC' NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS' ` +
  `NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF3' NLS_TIMESTAMP_TZ_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.FF3TZH:TZM' ` +
  `NLS_NUMERIC_CHARACTERS = '.,'`;

/**
 * The text of a DATE or TIMESTAMP (no time zone) value: 'YYYY-MM-DD HH:MM:SS[.fff]'. Thin mode builds
 * these Dates in the process' time zone from the stored fields, so the local fields are the stored value
 * (except a wall-clock time that does not exist locally, inside a DST gap: run with TZ=UTC to avoid it).
 */
export function oracleLocalDateText(value: Date | null): string | null {
  if (value === null) return null;
  const ms = value.getMilliseconds();
  return (
    `${zeroPad(value.getFullYear(), 4)}-${zeroPad(value.getMonth() + 1)}-${zeroPad(value.getDate())} ` +
    `${zeroPad(value.getHours())}:${zeroPad(value.getMinutes())}:${zeroPad(value.getSeconds())}${ms ? `.${zeroPad(ms, 3)}` : ''}`
  );
}

/** The text of a TIMESTAMP WITH [LOCAL] TIME ZONE value: an instant, ISO 8601 in UTC. */
export function oracleInstantText(value: Date | null): string | null {
  return value === null ? null : value.toISOString();
}

/**
 * The server's exact digits of a NUMBER as a plain decimal string: Thin mode writes '.5' and '-.5', and
 * NUMBER keeps no trailing zeros, so a NUMBER(12,2) is padded to its scale ('12.50') like DECIMAL elsewhere.
 */
export function oracleNumberText(value: string | null, scale?: number): string | null {
  if (value === null) return null;
  let text = value.replace(/^(-?)\./, '$10.');
  if (scale !== undefined && scale > 0 && /^-?\d+(\.\d*)?$/.test(text)) {
    const [whole, fraction = ''] = text.split('.');
    if (fraction.length < scale) text = `${whole}.${fraction.padEnd(scale, '0')}`;
  }
  return text;
}

type FetchMeta = { dbType?: unknown; precision?: number; scale?: number };
type FetchAs = { type?: unknown; converter?: (value: never) => unknown };

/**
 * How a column is fetched: DATE/TIMESTAMP as Dates turned into text, LOB text and NUMBERs that are not
 * small integers as exact strings; everything else as the driver's default.
 */
export function oracleFetchType(meta: FetchMeta, types: OracleTypes): FetchAs | undefined {
  switch (meta.dbType) {
    case types.DB_TYPE_DATE:
    case types.DB_TYPE_TIMESTAMP:
      return { converter: oracleLocalDateText };
    case types.DB_TYPE_TIMESTAMP_TZ:
    case types.DB_TYPE_TIMESTAMP_LTZ:
      return { converter: oracleInstantText };
    case types.DB_TYPE_CLOB:
    case types.DB_TYPE_NCLOB:
      return { type: types.STRING };
    case types.DB_TYPE_NUMBER: {
      const smallInteger = meta.scale === 0 && (meta.precision ?? 0) > 0 && (meta.precision ?? 0) <= 15;
      if (smallInteger) return undefined;
      const scale = meta.scale !== undefined && meta.scale > 0 && (meta.precision ?? 0) > 0 ? meta.scale : undefined;
      return { type: types.STRING, converter: (v: string | null) => oracleNumberText(v, scale) };
    }
    default:
      return undefined;
  }
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

export class OracleAdapter extends ServerAdapter implements SourceAdapter {
  readonly dialect = 'oracle' as const;
  private pool?: Promise<OraclePool>;
  private readonly config: ConnectorConfig;

  /** `createPool` is oracledb's unless a test hands in its own. */
  constructor(
    config: ConnectorConfig,
    private readonly createPool: (settings: Record<string, unknown>) => Promise<OraclePool> = (settings) => oracledb.createPool(settings),
  ) {
    super(config);
    this.config = config;
  }

  private async connection(what: string): Promise<OracleConnection> {
    try {
      // Only a pool that could not be created is forgotten; one that merely failed to hand out a connection
      // (server down for a moment, queue timeout) is kept, so close() still ends it and its sessions.
      this.pool ??= this.createPool({
        ...oracleConfig(this.config.connection),
        poolMin: this.config.pool?.min ?? 0,
        poolMax: this.config.pool?.max ?? 10,
        sessionCallback: (conn: OracleConnection, _tag: string, done: (err?: Error) => void) => {
          conn.execute(SESSION_SETUP).then(() => done(), done);
        },
      }).catch((err: unknown) => {
        this.pool = undefined;
        throw err;
      });
      return await (await this.pool).getConnection();
    } catch (err) {
      throw this.cannotConnect(what, err);
    }
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const { what, built, batchSize } = streamStatement(this.dialect, query, options);
    const { signal } = options;
    const conn = await this.connection(what);
    let resultSet: OracleResultSet | undefined;
    // A call on the wire (execute, getRows) is interrupted by a break; between calls nothing runs.
    let calling = false;
    const call = async <T>(work: Promise<T>): Promise<T> => {
      calling = true;
      try {
        return await work;
      } finally {
        calling = false;
      }
    };
    const onAbort = (): void => {
      if (calling) conn.breakExecution().catch(() => undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      throwIfAborted(signal); // the signal may have fired while a connection was being found
      const result = await call(
        conn.execute(built.sql, built.bindings, {
          resultSet: true,
          outFormat: oracledb.OUT_FORMAT_OBJECT,
          fetchArraySize: batchSize,
          prefetchRows: batchSize,
          fetchTypeHandler: (meta: FetchMeta) => oracleFetchType(meta, oracledb),
        }),
      );
      resultSet = result.resultSet;
      if (!resultSet) throw new ConnectorError(`${this.name}: ${what} is not a query`);
      for (;;) {
        throwIfAborted(signal);
        const batch = await call(resultSet.getRows(batchSize));
        // only an empty batch means the end (a short one costs no extra round trip to confirm)
        if (batch.length === 0) break;
        for (const raw of batch) {
          throwIfAborted(signal);
          // unquoted names come back in upper case; rows use lower case like every other adapter
          yield normaliseRow(raw);
        }
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw this.failure(what, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // The result set is closed (its cursor freed) before the connection goes back to the pool.
      await resultSet?.close().catch(() => undefined);
      await conn.close().catch(() => undefined);
    }
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect(this.dialect, query, { noRows: true });
    const conn = await this.connection(queryLabel(query));
    try {
      const result = await conn.execute(built.sql, built.bindings, { outFormat: oracledb.OUT_FORMAT_OBJECT });
      return (result.metaData ?? []).map((m) => m.name.toLowerCase());
    } catch (err) {
      throw this.failure(queryLabel(query), err);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  async indexedColumns(table: string): Promise<string[][]> {
    const what = `indexes of table ${table}`;
    const { sql, bindings } = indexColumnsQuery(this.dialect, table);
    const conn = await this.connection(what);
    try {
      const result = await conn.execute(sql, bindings, { outFormat: oracledb.OUT_FORMAT_OBJECT });
      return groupIndexColumns(result.rows ?? []);
    } catch (err) {
      throw this.failure(what, err);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  async tableNames(): Promise<string[]> {
    const { sql, bindings } = tableCatalogueQuery(this.dialect);
    const conn = await this.connection('list of tables');
    try {
      const result = await conn.execute(sql, bindings, { outFormat: oracledb.OUT_FORMAT_OBJECT });
      return catalogueTables((result.rows ?? []) as Array<Record<string, unknown>>);
    } catch (err) {
      throw this.failure('list of tables', err);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    const conn = await this.connection('ping');
    try {
      await conn.execute('select 1 from dual');
    } catch (err) {
      throw this.failure(`cannot reach ${this.where}`, err);
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
  requireConnection(config);
  return new OracleAdapter(config);
}
