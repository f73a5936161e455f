// PostgreSQL through pg. Rows come from a server-side cursor (pg-query-stream) `batchSize` at a time, and
// dates, timestamps, NUMERIC and BIGINT arrive as the server's text so no value passes through a JS Date
// built in the process' time zone or loses digits in a double.
import { releaseOnce, SNAPSHOT_RELEASE_TIMEOUT_MS, settleWithin } from '../settle-within.js';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { groupIndexColumns, indexColumnsQuery, tableCatalogueQuery, catalogueTables } from '../index-columns.js';
import { lowerCaseKeys } from '../normalise.js';
import { requireConnection, ServerAdapter, streamStatement } from '../server-adapter.js';
import { buildSelect, queryLabel } from '../sql-builder.js';
import { SnapshotLostError } from '../snapshot-lost.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery, SourceSnapshot, StreamOptions } from '../types.js';

const AS_TEXT = (value: string): string => value;

/** OIDs whose default parser would build a Date or a lossy number. */
export const TEXT_OIDS = {
  int8: 20,
  numeric: 1700,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  timetz: 1266,
};
const ARRAY_OIDS = [1016 /* int8[] */, 1231 /* numeric[] */, 1182 /* date[] */, 1115 /* timestamp[] */, 1185 /* timestamptz[] */];

/** pg's `types` option: the default parsers, except the above kept as text. */
export const textDateTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === 'binary') return pg.types.getTypeParser(oid as never, 'binary' as never) as (value: string) => unknown;
    if (Object.values(TEXT_OIDS).includes(oid)) return AS_TEXT;
    if (ARRAY_OIDS.includes(oid)) return pg.types.getTypeParser(1009 as never) as (value: string) => unknown; // text[]
    return pg.types.getTypeParser(oid as never) as (value: string) => unknown;
  },
};

/**
 * pg-query-stream (through pg-cursor) waits for the server's ReadyForQuery in two places where a connection
 * that dies instead leaves it waiting forever, and the export with it:
 * - the last rows of a result: after CommandComplete the cursor holds them (state 'done') until ReadyForQuery,
 *   and a connection lost in between is ignored by a cursor in that state, so the pending read never returns;
 * - destroy(): it closes the portal and waits for ReadyForQuery, which a dead connection never sends.
 * So the stream fails with the connection's end when it comes before the stream's, and closing the portal
 * settles when the connection ends, or after CURSOR_CLOSE_TIMEOUT_MS for one that died without a word.
 */
class CursorStream extends QueryStream {
  override submit(connection: pg.Connection): void {
    super.submit(connection);
    const lost = (): void => {
      const state = this as unknown as { _readableState: { ended: boolean } };
      if (!this.destroyed && !state._readableState.ended) this.destroy(new Error('Connection terminated unexpectedly while reading rows'));
    };
    connection.once('end', lost);
    this.once('close', () => connection.off('end', lost));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const cursor = this.cursor as { state?: string; connection?: pg.Connection & { stream?: { writable?: boolean } } };
    const connection = cursor.connection;
    // a cursor in error or on a closed connection has nothing left to close
    if (!connection || cursor.state === 'error' || connection.stream?.writable === false) {
      cb(err);
      return;
    }
    let settled = false;
    const settle = (failure: Error | null | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.off('end', onEnd);
      cb(failure);
    };
    const onEnd = (): void => settle(err ?? new Error('Connection terminated while closing a cursor'));
    connection.once('end', onEnd);
    const timer = setTimeout(
      () => settle(err ?? new Error(`closing a cursor: no answer within ${CURSOR_CLOSE_TIMEOUT_MS} ms (connection lost?)`)),
      CURSOR_CLOSE_TIMEOUT_MS,
    );
    timer.unref();
    super._destroy(err as Error, (failure?: Error | null) => settle(failure));
  }
}

/** How long closing a cursor's portal may take before its connection is taken for dead. */
export const CURSOR_CLOSE_TIMEOUT_MS = SNAPSHOT_RELEASE_TIMEOUT_MS;

function poolConfig(config: ConnectorConfig): pg.PoolConfig {
  const c = config.connection;
  const base: pg.PoolConfig = typeof c === 'string' ? { connectionString: c } : { ...(c as pg.PoolConfig) };
  return {
    ...base,
    types: textDateTypes,
    max: config.pool?.max ?? base.max ?? 10,
    min: config.pool?.min ?? base.min,
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? Number(config.options?.connectTimeoutMs ?? 15_000),
  };
}

/**
 * The oldest start of a transaction open in this database (or now, when none is): read before the snapshot
 * is taken, it is a time every change the snapshot will not show was stamped at or after (the triggers
 * stamp now(), the writing transaction's start). Sessions of other roles show no xact_start without
 * pg_read_all_stats; they are counted so the export can say its transactionTime may be too late.
 */
export const OLDEST_OPEN_TRANSACTION_SQL =
  `select to_char(least(clock_timestamp(), min(xact_start)) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as since, ` +
  `count(*) filter (where state is null) as hidden from pg_stat_activity ` +
  `where pid <> pg_backend_pid() and backend_type = 'client backend' and datname = current_database()`;

/** Every pooled connection of a snapshot reads in this transaction (pg_export_snapshot / SET TRANSACTION SNAPSHOT). */
export function joinSnapshotSql(snapshotId: string): string {
  if (!/^[0-9A-F-]+$/i.test(snapshotId)) throw new Error(`unexpected snapshot id ${snapshotId}`);
  return `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '${snapshotId}'`;
}

/**
 * The set-up connections of a pool. It belongs to the pool, not to an adapter: the readers a snapshot hands
 * out (one per part of an export) share their coordinator's pool, and each connection must be set up, and get
 * its error listener, once; per adapter, a long-lived pool's connections gathered one listener per part.
 */
const preparedByPool = new WeakMap<pg.Pool, WeakSet<pg.PoolClient>>();
function preparedOf(pool: pg.Pool): WeakSet<pg.PoolClient> {
  let set = preparedByPool.get(pool);
  if (!set) {
    set = new WeakSet();
    preparedByPool.set(pool, set);
  }
  return set;
}

export class PostgresAdapter extends ServerAdapter implements SourceAdapter {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly sessionSetup: string;
  /** connections of the pool already set up (shared by every adapter on the pool: see preparedOf) */
  private readonly prepared: WeakSet<pg.PoolClient>;
  /** set on the adapter a snapshot hands out: every statement runs in a transaction joining it */
  private snapshotId: string | undefined;
  /** the snapshot's notes (shared with the SourceSnapshot) */
  private snapshotNotes: string[] = [];
  /** the exporting transaction ended (its connection was lost): later statements read the latest rows */
  private snapshotLost = false;
  /** adopted from another adapter (adoptSnapshot): a lost snapshot fails the read instead */
  private adopted = false;
  /** connections in a transaction that joined the snapshot, to be committed before they go back */
  private readonly joined = new WeakSet<pg.PoolClient>();

  constructor(config: ConnectorConfig, pool?: pg.Pool) {
    super(config);
    this.pool = pool ?? new pg.Pool(poolConfig(config));
    this.prepared = preparedOf(this.pool);
    this.config = config;
    const schema = typeof config.options?.schema === 'string' ? config.options.schema : undefined;
    // Timestamps WITH time zone are printed in the session zone; UTC keeps them independent of the server's.
    this.sessionSetup = `SET TIME ZONE 'UTC'${schema ? `; SET search_path TO ${pg.escapeIdentifier(schema)}` : ''}`;
    // An idle client losing its connection must not crash the process; the next query reports it.
    if (!pool) this.pool.on('error', () => undefined);
  }

  private readonly config: ConnectorConfig;

  /**
   * One REPEATABLE READ READ ONLY transaction whose snapshot (pg_export_snapshot) every connection of the
   * export imports, so all queries, run on however many pooled connections, see the same committed state.
   * The exporting connection holds the transaction open until release().
   */
  async beginSnapshot(): Promise<SourceSnapshot> {
    const holder = await this.client('begin a snapshot');
    try {
      const before = await holder.query(OLDEST_OPEN_TRANSACTION_SQL);
      const { since, hidden } = before.rows[0] as { since: string; hidden: string };
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const id = (await holder.query('select pg_export_snapshot() as id')).rows[0].id as string;
      const notes =
        Number(hidden) > 0
          ? [
              `snapshot: ${hidden} session(s) of other roles could not be seen (grant pg_read_all_stats to the export's role); ` +
                'a change they commit during the export may be missed by the next _since export',
            ]
          : [];
      const reader = new PostgresAdapter(this.config, this.pool);
      reader.snapshotId = id;
      reader.snapshotNotes = notes;
      return {
        adapter: reader,
        transactionTime: new Date(since),
        notes,
        id,
        release: releaseOnce(async () => {
          try {
            // a holder whose connection died unnoticed must not keep a finished export waiting
            await settleWithin(holder.query('COMMIT'), SNAPSHOT_RELEASE_TIMEOUT_MS, 'ending the snapshot');
            holder.release();
          } catch (err) {
            holder.release(err as Error);
          }
        }),
      };
    } catch (err) {
      holder.release(err as Error);
      throw this.failure('begin a snapshot', err);
    }
  }

  /**
   * Reads in the snapshot another adapter of this source began (its SourceSnapshot.id): the parts of an
   * export, in worker threads or other processes, all read the coordinator's snapshot. Shares this adapter's
   * pool. While the exporting transaction is held every statement joins it; once it is gone a statement fails
   * with SnapshotLostError (an export must not mix the snapshot with later rows unnoticed).
   */
  adoptSnapshot(id: string): SourceAdapter {
    joinSnapshotSql(id); // a malformed id fails here, not at the first read
    const reader = new PostgresAdapter(this.config, this.pool);
    reader.snapshotId = id;
    reader.adopted = true;
    return reader;
  }

  private async client(what: string): Promise<pg.PoolClient> {
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      if (!this.prepared.has(client)) {
        // A connection lost while checked out (a stream mid-read) is also emitted as 'error' on the client,
        // which would end the process without a listener; the running query fails with the same error and
        // is reported (and retried) through it.
        client.on('error', () => undefined);
        await client.query(this.sessionSetup);
        this.prepared.add(client);
      }
      if (this.snapshotId && !this.snapshotLost) await this.join(client, this.snapshotId);
      return client;
    } catch (err) {
      client?.release(err as Error);
      throw err instanceof SnapshotLostError ? err : this.cannotConnect(what, err);
    }
  }

  /** One statement on a pooled, prepared connection (for columns and ping). */
  private async run(what: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
    const client = await this.client(what);
    let result: pg.QueryResult;
    try {
      result = await client.query({ text: sql, values });
    } catch (err) {
      // a failed statement aborts a snapshot transaction: that connection is discarded, not reused
      client.release(this.joined.has(client) ? (err as Error) : undefined);
      throw this.failure(what, err);
    }
    try {
      await this.leave(client);
    } catch (err) {
      client.release(err as Error);
      throw this.failure(what, err);
    }
    client.release();
    return result;
  }

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    const { what, built, batchSize } = streamStatement(this.dialect, query, options);
    const client = await this.client(what);
    const rows = client.query(new CursorStream(built.sql, built.bindings, { batchSize, highWaterMark: batchSize, types: textDateTypes }));
    yield* this.drain({
      what,
      rows: rows as AsyncIterable<Record<string, unknown>>,
      // textDateTypes leaves no Date, and pg no undefined or bigint: only the keys may need lower-casing
      normalise: lowerCaseKeys(),
      signal: options.signal,
      abort: () => void rows.destroy(options.signal?.reason),
      finish: async (_complete, failure) => {
        // destroy() closes the portal; wait for that so the connection goes back to the pool idle. After a
        // failure (maybe a dead connection, whose portal close would never be answered) the connection is
        // discarded at once instead.
        rows.on('error', () => undefined);
        const broken = (failure as Error | undefined) ?? rows.errored ?? undefined;
        let lost: Error | undefined;
        if (broken === undefined) {
          // The connection may die while the portal closes (a kill that has not reached this client yet):
          // the close is then never answered, so the connection's end settles it too.
          let onLost = (_err?: Error): void => undefined;
          const died = new Promise<void>((resolve) => {
            onLost = (err) => {
              lost = err ?? new Error('connection ended');
              resolve();
            };
          });
          client.once('error', onLost).once('end', onLost);
          const closed = rows.closed ? Promise.resolve() : new Promise<void>((resolve) => rows.once('close', () => resolve()));
          if (!rows.destroyed) rows.destroy();
          await Promise.race([closed, died]);
          client.off('error', onLost).off('end', onLost);
          // a portal close that failed (the connection ended, or no answer) leaves nothing to commit
          lost ??= rows.errored ?? undefined;
          if (lost === undefined) {
            try {
              await this.leave(client);
            } catch (err) {
              lost = err as Error;
            }
          }
        } else if (!rows.destroyed) rows.destroy();
        client.release(broken ?? lost ?? rows.errored ?? undefined);
      },
    });
  }

  /**
   * Joins the exported snapshot. When the exporting connection was lost (a failover, a kill), the snapshot is
   * gone: a one-thread export (runExport) goes on reading the latest rows rather than failing, and says so
   * (transactionTime stays the snapshot's, so the next `_since` export re-reads what changed since, never
   * less); an adopted snapshot's reader (a part) fails with SnapshotLostError and its coordinator decides.
   */
  private async join(client: pg.PoolClient, id: string): Promise<void> {
    try {
      await client.query(joinSnapshotSql(id));
      this.joined.add(client);
    } catch (err) {
      // The connection itself may be gone (a kill landing just now, which may also be what failed the join):
      // then the rollback's failure is reported, transient, for the retry to find out on a fresh connection,
      // not the join's (an invalid snapshot, which alone would fail the export for good).
      const gone = await settleWithin(
        client.query('ROLLBACK'),
        SNAPSHOT_RELEASE_TIMEOUT_MS,
        'leaving a failed snapshot join (connection lost?)',
      ).then(
        () => undefined,
        (rollbackErr: unknown) => rollbackErr,
      );
      if (gone !== undefined) throw gone;
      if (this.adopted)
        throw new SnapshotLostError(
          `${this.name}: the export's source snapshot ${id} is gone (the connection holding it ended): ${(err as Error).message}`,
          { cause: err },
        );
      if (!this.snapshotLost)
        this.snapshotNotes.push(
          `the source snapshot was lost mid-export (${(err as Error).message}); rows read after that are the latest ones, ` +
            'so this export may hold parts of changes made after its transactionTime (the next _since export has them too)',
        );
      this.snapshotLost = true;
    }
  }

  /** Ends a statement's snapshot transaction before its connection goes back to the pool. */
  private async leave(client: pg.PoolClient): Promise<void> {
    if (!this.joined.has(client)) return;
    this.joined.delete(client);
    // a connection that died without the driver noticing must not keep the read waiting
    await settleWithin(client.query('COMMIT'), SNAPSHOT_RELEASE_TIMEOUT_MS, 'ending a read in the snapshot');
  }

  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    const built = buildSelect(this.dialect, query, { noRows: true });
    const result = await this.run(queryLabel(query), built.sql, built.bindings);
    return result.fields.map((f) => f.name.toLowerCase());
  }

  async indexedColumns(table: string): Promise<string[][]> {
    const { sql, bindings } = indexColumnsQuery(this.dialect, table);
    return groupIndexColumns((await this.run(`indexes of table ${table}`, sql, bindings)).rows);
  }

  async tableNames(): Promise<string[]> {
    const { sql, bindings } = tableCatalogueQuery(this.dialect);
    return catalogueTables((await this.run('list of tables', sql, bindings)).rows);
  }

  async ping(): Promise<void> {
    await this.run('ping', 'select 1');
  }

  async close(): Promise<void> {
    // a snapshot's reader shares its parent's pool, which the parent closes
    if (this.snapshotId === undefined) await this.pool.end();
  }
}

export async function openPostgres(config: ConnectorConfig): Promise<SourceAdapter> {
  requireConnection(config);
  return new PostgresAdapter(config);
}
