// MySQL / MariaDB through mysql2. Rows stream off the socket with the connection paused whenever
// `batchSize` rows wait unread; dates stay strings, DECIMAL and BIGINT stay exact strings.
import { ConnectorError } from '../../errors.js';
import { releaseOnce, SNAPSHOT_CONNECTION_WAIT_MS, SNAPSHOT_RELEASE_TIMEOUT_MS, settleWithin } from '../settle-within.js';
import mysql from 'mysql2';
import type { FieldPacket, Pool, PoolConnection, PoolOptions } from 'mysql2';
import { groupIndexColumns, indexColumnsQuery, tableCatalogueQuery, catalogueTables } from '../index-columns.js';
import { normaliseRow } from '../normalise.js';
import { requireConnection, ServerAdapter, streamStatement } from '../server-adapter.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, SnapshotOptions, SourceSnapshot, StreamOptions } from '../types.js';

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

/** The oldest start of another open InnoDB transaction (or now): read before the snapshots start (see beginSnapshot). */
export const OLDEST_OPEN_TRANSACTION_SQL =
  `select date_format(least(now(6), coalesce(min(trx_started), now(6))), '%Y-%m-%dT%H:%i:%s.%fZ') as since ` +
  `from information_schema.innodb_trx where trx_mysql_thread_id <> connection_id()`;
export const START_SNAPSHOT_SQL = 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY';
/** InnoDB's redo log position: unchanged across the snapshots' start, no transaction committed in between. */
const LOG_POSITION_SQL = `show global status like 'Innodb_lsn_current'`;

/**
 * Connections of a snapshot: each one started its consistent snapshot at the same log position. A read takes
 * an idle one and gives it back. While they all live there is one for every read the export has open at once
 * (two per concurrent mapping run: a parent scan and its child fetches), so a read waits only when the pool
 * capped their number, and then at most `waitMs` before failing, retryably. Once one is lost (a failover, a
 * kill), a read that finds none idle does not wait for one another read holds: that may be its own parent
 * scan, which waits for it, and whose death a paused socket hides. It goes on with a fresh connection reading
 * the latest rows (`take` answers undefined), and `notes` says so: transactionTime stays the snapshot's, so
 * the next `_since` export re-reads what changed since, never less.
 */
export class SnapshotConnections {
  private readonly idle: PoolConnection[];
  private readonly waiting = new Set<(conn: PoolConnection | undefined) => void>();
  private readonly dead = new Set<PoolConnection>();
  private noted = false;

  constructor(
    private readonly connections: PoolConnection[],
    private readonly notes: string[],
    private readonly waitMs = SNAPSHOT_CONNECTION_WAIT_MS,
  ) {
    this.idle = [...connections];
    for (const conn of connections) {
      // an idle pinned connection that dies must not crash the process, nor be handed out again
      conn.on('error', () => this.lose(conn));
      conn.on('end', () => this.lose(conn));
    }
  }

  /** A pinned connection to read on, or undefined: read on a fresh one (the snapshot cannot serve this read). */
  take(): Promise<PoolConnection | undefined> {
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (usable(conn)) return Promise.resolve(conn);
      this.lose(conn);
    }
    if (this.dead.size > 0) return Promise.resolve(this.outside());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(waiter);
        reject(
          new Error(
            `no connection of the source snapshot came free within ${this.waitMs} ms (all ${this.connections.length} in use; ` +
              'a pool smaller than two connections per concurrent mapping run?)',
          ),
        );
      }, this.waitMs);
      const waiter = (conn: PoolConnection | undefined): void => {
        clearTimeout(timer);
        this.waiting.delete(waiter);
        resolve(conn ?? this.outside());
      };
      this.waiting.add(waiter);
    });
  }

  /** `lost`: the connection was closed (a result abandoned half-read cannot be drained on MySQL's protocol) */
  give(conn: PoolConnection, lost: boolean): void {
    if (!this.connections.includes(conn)) {
      // a fresh connection, taken once the snapshot could not serve a read
      if (!lost) conn.release();
      return;
    }
    if (lost || this.dead.has(conn) || !usable(conn)) {
      this.lose(conn);
      return;
    }
    const [next] = this.waiting;
    if (next) next(conn);
    else this.idle.push(conn);
  }

  private lose(conn: PoolConnection): void {
    if (this.dead.has(conn)) return;
    this.dead.add(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // No waiter may wait on: the connections it waits for are held by other reads, one of which may be
    // waiting for it (its parent scan) or may have died unnoticed.
    for (const waiter of [...this.waiting]) waiter(undefined);
  }

  /** A read the snapshot cannot serve: it reads the latest rows, which the export's notes must say (once). */
  private outside(): undefined {
    if (!this.noted) {
      this.noted = true;
      this.notes.push(
        `the source snapshot was lost mid-export (${this.dead.size} of its ${this.connections.length} connections ended); rows read ` +
          'after that may be the latest ones, so this export may hold parts of changes made after its transactionTime ' +
          '(the next _since export has them too)',
      );
    }
    return undefined;
  }

  async release(): Promise<void> {
    for (const conn of this.connections) {
      if (this.dead.has(conn)) continue;
      try {
        // a pinned connection killed unnoticed must not keep a finished export waiting
        await settleWithin(conn.promise().query('COMMIT'), SNAPSHOT_RELEASE_TIMEOUT_MS, 'ending the snapshot');
        conn.release();
      } catch {
        conn.destroy();
      }
    }
  }
}

/** mysql2 marks a connection it saw die (or closed) before anyone asks it for anything. */
function usable(conn: PoolConnection): boolean {
  return conn.state !== 'error' && conn.state !== 'disconnected';
}

export class MysqlAdapter extends ServerAdapter implements SourceAdapter {
  readonly dialect = 'mysql' as const;
  private readonly pool: Pool;
  private readonly config: ConnectorConfig;
  /** set on the adapter a snapshot hands out: statements run on the snapshot's connections */
  private snapshot: SnapshotConnections | undefined;

  constructor(config: ConnectorConfig, pool?: Pool) {
    super(config);
    this.config = config;
    if (pool) {
      this.pool = pool;
      return;
    }
    this.pool = mysql.createPool(poolOptions(config));
    // DATETIME has no zone; the loader writes UTC and TIMESTAMP columns convert through the session zone.
    this.pool.on('connection', (conn) => {
      conn.query(`SET time_zone = '+00:00'`, () => undefined);
    });
  }

  /**
   * MariaDB and MySQL cannot share one snapshot between connections, so the export gets a fixed set of
   * connections (per mapping run at once: a parent scan and its child queries, which run together), each started with
   * START TRANSACTION WITH CONSISTENT SNAPSHOT; the starts are repeated until no transaction committed
   * between the first and the last (the InnoDB log position did not move), which makes them one snapshot.
   * On a server too busy for that after a few tries, the export goes on with the last set and says so.
   * transactionTime: the oldest start of another open transaction (information_schema.innodb_trx, which
   * needs the PROCESS privilege), read before the snapshots start; without the privilege, the time then.
   */
  async beginSnapshot(options: SnapshotOptions = {}): Promise<SourceSnapshot> {
    const limit = (this.pool as unknown as { config: { connectionLimit: number } }).config.connectionLimit ?? 10;
    const count = Math.max(1, Math.min(options.concurrentReads ?? 4, limit));
    const conns: PoolConnection[] = [];
    const notes: string[] = [];
    try {
      for (let i = 0; i < count; i++) conns.push(await this.connection('begin a snapshot'));
      const first = conns[0]!.promise();
      await Promise.all(conns.map((c) => c.promise().query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')));
      let since: string;
      try {
        since = ((await first.query(OLDEST_OPEN_TRANSACTION_SQL))[0] as Array<{ since: string }>)[0]!.since;
      } catch (err) {
        since = ((await first.query(`select date_format(now(6), '%Y-%m-%dT%H:%i:%s.%fZ') as since`))[0] as Array<{ since: string }>)[0]!
          .since;
        notes.push(
          `snapshot: open transactions could not be read (${(err as Error).message}; grant PROCESS to the export's user); ` +
            'a change committed during the export may be missed by the next _since export',
        );
      }
      let consistent = false;
      for (let attempt = 0; attempt < 5 && !consistent; attempt++) {
        const before = await logPosition(first);
        for (const c of conns) {
          if (attempt > 0) await c.promise().query('COMMIT');
          await c.promise().query(START_SNAPSHOT_SQL);
        }
        consistent = conns.length === 1 || (await logPosition(first)) === before;
      }
      if (!consistent)
        notes.push('snapshot: the server was never quiet while the connections started their snapshots; they may differ by a few commits');
      const reader = new MysqlAdapter(this.config, this.pool);
      const set = new SnapshotConnections(conns, notes);
      reader.snapshot = set;
      return { adapter: reader, transactionTime: new Date(since), notes, release: releaseOnce(() => set.release()) };
    } catch (err) {
      for (const c of conns) c.destroy();
      throw this.failure('begin a snapshot', err);
    }
  }

  private async connection(what: string): Promise<PoolConnection> {
    let pinned: PoolConnection | undefined;
    try {
      pinned = await this.snapshot?.take();
    } catch (err) {
      // the wait is bounded so that no read hangs; a retry finds connections given back, or lost
      throw new ConnectorError(`${this.name}: ${what}: ${(err as Error).message}`, { cause: err, transient: true });
    }
    if (pinned) return pinned;
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
    // mysql2 tells a query without a callback nothing when its connection is lost (KILL, reset): only the
    // connection emits 'error' (from query() itself when it had closed already), and the row stream would
    // wait forever. End it with that error instead, as a lost connection for the retry.
    const early: Error[] = [];
    const beforeRows = (err: Error): void => void early.push(err);
    conn.on('error', beforeRows);
    const rows = conn.query({ sql: built.sql, values: built.bindings }).stream({ highWaterMark: batchSize });
    conn.off('error', beforeRows);
    const lost = (err: Error): void => void rows.destroy(asLostConnection(err));
    conn.on('error', lost);
    if (early[0]) lost(early[0]);
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
        if (complete) this.giveBack(conn, false);
        else {
          rows.on('error', () => undefined);
          conn.destroy();
          this.giveBack(conn, true);
        }
      },
    });
  }

  private giveBack(conn: PoolConnection, lost: boolean): void {
    if (this.snapshot) this.snapshot.give(conn, lost);
    else if (!lost) conn.release();
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
    // a snapshot's reader shares its parent's pool, which the parent closes
    if (!this.snapshot) await this.pool.promise().end();
  }
}

/** mysql2's errors for a connection it has closed carry no code; they are a lost connection all the same. */
function asLostConnection(err: Error): Error {
  if ((err as { code?: unknown }).code) return err;
  return Object.assign(new Error(`connection lost: ${err.message}`, { cause: err }), { code: 'PROTOCOL_CONNECTION_LOST' });
}

async function logPosition(conn: ReturnType<PoolConnection['promise']>): Promise<string> {
  const [rows] = await conn.query(LOG_POSITION_SQL);
  return String((rows as Array<{ Value?: unknown }>)[0]?.Value ?? '');
}

export async function openMysql(config: ConnectorConfig): Promise<SourceAdapter> {
  requireConnection(config);
  return new MysqlAdapter(config);
}
