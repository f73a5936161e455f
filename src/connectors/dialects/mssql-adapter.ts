// SQL Server through mssql (tedious). The request streams (`toReadableStream` pauses the request when
// `batchSize` rows wait unread); leaving early cancels the request rather than reading it to the end.
// tedious builds JS Dates and JS numbers for DECIMAL; normaliseMssqlRow turns them back into the text the
// Row contract promises.
import mssqlModule from 'mssql';
import type { Readable } from 'node:stream';
import { groupIndexColumns, indexColumnsQuery, tableCatalogueQuery, catalogueTables } from '../index-columns.js';
import { normaliseRow, throwIfAborted, zeroPad } from '../normalise.js';
import { requireConnection, ServerAdapter, streamStatement } from '../server-adapter.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, StreamOptions } from '../types.js';

// The part of the mssql API used here (the package has no type declarations).
export interface MssqlConfig {
  server?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  options?: Record<string, unknown>;
  pool?: { max?: number; min?: number };
  [key: string]: unknown;
}
type ColumnTypes = Record<string, { index?: number; name?: string; scale?: number; type?: { declaration?: string } } | undefined>;
interface MssqlRequest {
  input(name: string, value: unknown): void;
  on(event: 'recordset', listener: (columns: ColumnTypes) => void): void;
  toReadableStream(options: { highWaterMark: number }): Readable;
  query(sql: string, callback?: () => void): Promise<{ recordset?: Array<Record<string, unknown>> & { columns?: ColumnTypes } }>;
  cancel(): void;
}
interface MssqlPool {
  connect(): Promise<MssqlPool>;
  request(): MssqlRequest;
  close(): Promise<void>;
  on(event: 'error', listener: () => void): void;
}
const sql = mssqlModule as {
  ConnectionPool: { new (config: MssqlConfig): MssqlPool; parseConnectionString(s: string): MssqlConfig };
};

/** mssql settings from a URL (`mssql://user:pass@host:1433/db?encrypt=true&trustServerCertificate=true`) or a map. */
export function mssqlConfig(connection: ConnectorConfig['connection'], pool?: ConnectorConfig['pool']): MssqlConfig {
  let base: MssqlConfig;
  if (typeof connection === 'string') {
    if (!/^(mssql|sqlserver):\/\//i.test(connection))
      return { ...sql.ConnectionPool.parseConnectionString(connection), options: { useUTC: true } };
    const url = new URL(connection.replace(/^sqlserver:/i, 'mssql:'));
    const flag = (name: string, fallback: boolean): boolean => {
      const v = url.searchParams.get(name);
      return v === null ? fallback : /^(1|true|yes)$/i.test(v);
    };
    base = {
      server: url.hostname,
      port: url.port ? Number(url.port) : 1433,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
      options: {
        encrypt: flag('encrypt', true),
        trustServerCertificate: flag('trustServerCertificate', false),
        instanceName: url.searchParams.get('instanceName') ?? undefined,
      },
    };
  } else base = { ...(connection as unknown as MssqlConfig) };
  return {
    ...base,
    // Dates are read back with getUTC*: DATETIME/DATE values come out exactly as stored, whatever the
    // process' time zone.
    options: { ...base.options, useUTC: true },
    pool: { ...base.pool, max: pool?.max ?? base.pool?.max ?? 10, min: pool?.min ?? base.pool?.min ?? 0 },
  };
}

/** The text of a SQL Server temporal value, from tedious' Date (UTC fields hold the stored value). */
export function mssqlTemporalText(value: Date, declaration: string | undefined): string {
  const date = `${value.getUTCFullYear()}-${zeroPad(value.getUTCMonth() + 1)}-${zeroPad(value.getUTCDate())}`;
  const ms = value.getUTCMilliseconds();
  const time = `${zeroPad(value.getUTCHours())}:${zeroPad(value.getUTCMinutes())}:${zeroPad(value.getUTCSeconds())}${ms ? `.${zeroPad(ms, 3)}` : ''}`;
  switch ((declaration ?? '').toLowerCase()) {
    case 'date':
      return date;
    case 'time':
      return time;
    case 'datetimeoffset':
      // an instant; tedious has already applied the offset
      return value.toISOString();
    default:
      return `${date} ${time}`;
  }
}

const EXACT_NUMERIC = new Set(['decimal', 'numeric', 'money', 'smallmoney']);

/**
 * The text of a DECIMAL/NUMERIC/MONEY value with the column's scale ('0.10' for DECIMAL(12,2)), as the
 * other SQL adapters give it. tedious hands these out as JS numbers: exact up to 15 significant digits,
 * which toFixed(scale) restores; wider values have already lost digits in the driver.
 */
export function mssqlDecimalText(value: number, scale: number | undefined): string {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e21) return String(value);
  return value.toFixed(Math.min(Math.max(scale ?? 0, 0), 100));
}

/** A tedious row as a portable Row: temporal values and exact numerics as text by their column type, keys lower-cased. */
export function normaliseMssqlRow(raw: Record<string, unknown>, columns: ColumnTypes): Row {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const column = columns[key];
    const declaration = column?.type?.declaration?.toLowerCase();
    if (value instanceof Date) out[key] = mssqlTemporalText(value, declaration);
    else if (typeof value === 'number' && declaration !== undefined && EXACT_NUMERIC.has(declaration))
      out[key] = mssqlDecimalText(value, declaration.endsWith('money') ? 4 : column?.scale);
    else out[key] = value;
  }
  return normaliseRow(out);
}

export class MssqlAdapter extends ServerAdapter implements SourceAdapter {
  readonly dialect = 'mssql' as const;
  private readonly pool: MssqlPool;
  private connecting?: Promise<MssqlPool>;

  constructor(config: ConnectorConfig) {
    super(config);
    this.pool = new sql.ConnectionPool(mssqlConfig(config.connection, config.pool));
    this.pool.on('error', () => undefined);
  }

  private connected(what: string): Promise<MssqlPool> {
    this.connecting ??= this.pool.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw this.cannotConnect(what, err);
    });
    return this.connecting!;
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const { what, built, batchSize } = streamStatement(this.dialect, query, options);
    const pool = await this.connected(what);
    // the signal may have fired while the pool was connecting
    throwIfAborted(options.signal);
    const request = pool.request();
    built.bindings.forEach((value, i) => {
      request.input(`p${i}`, value);
    });
    let columns: ColumnTypes = {};
    request.on('recordset', (cols) => (columns = cols));
    const rows = request.toReadableStream({ highWaterMark: batchSize });
    request.query(built.sql, () => undefined); // errors arrive on the stream
    yield* this.drain({
      what,
      rows: rows as AsyncIterable<Record<string, unknown>>,
      normalise: (raw) => normaliseMssqlRow(raw, columns),
      signal: options.signal,
      abort: () => {
        request.cancel();
        rows.destroy(options.signal?.reason);
      },
      finish: (complete) => {
        if (!complete) {
          rows.on('error', () => undefined);
          request.cancel();
          rows.destroy();
        }
      },
    });
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect(this.dialect, query, { noRows: true });
    const pool = await this.connected(queryLabel(query));
    try {
      const request = pool.request();
      built.bindings.forEach((value, i) => {
        request.input(`p${i}`, value);
      });
      const result = await request.query(built.sql);
      return Object.values(result.recordset?.columns ?? {})
        .filter((c) => c !== undefined)
        .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
        .map((c) => String(c.name).toLowerCase());
    } catch (err) {
      throw this.failure(queryLabel(query), err);
    }
  }

  async indexedColumns(table: string): Promise<string[][]> {
    const what = `indexes of table ${table}`;
    const { sql: text, bindings } = indexColumnsQuery(this.dialect, table);
    const pool = await this.connected(what);
    try {
      const request = pool.request();
      bindings.forEach((value, i) => {
        request.input(`p${i}`, value);
      });
      return groupIndexColumns((await request.query(text)).recordset ?? []);
    } catch (err) {
      throw this.failure(what, err);
    }
  }

  async tableNames(): Promise<string[]> {
    const { sql: text } = tableCatalogueQuery(this.dialect);
    const pool = await this.connected('list of tables');
    try {
      return catalogueTables((await pool.request().query(text)).recordset ?? []);
    } catch (err) {
      throw this.failure('list of tables', err);
    }
  }

  async ping(): Promise<void> {
    const pool = await this.connected('ping');
    try {
      await pool.request().query('select 1 as one');
    } catch (err) {
      throw this.failure(`cannot reach ${this.where}`, err);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

export async function openMssql(config: ConnectorConfig): Promise<SourceAdapter> {
  requireConnection(config);
  return new MssqlAdapter(config);
}
