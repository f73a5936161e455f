// The behaviour every SQL adapter must show against a real server, run by postgres/mysql/mssql/oracle
// .int.test.ts. A dialect supplies only what differs (how to build the big table on the server, how the
// server shows a statement still running, its native value forms); the checks are the same for all.
// Takes vitest's functions so this module (compiled with the rest of src) does not import vitest.
import { ConnectorError } from '../../src/errors.js';
import { collect } from './collect-rows.js';
import { openAdapter } from '../../src/connectors/index.js';
import type { ConnectorConfig, Row, SourceAdapter, SourceQuery } from '../../src/connectors/types.js';

type Vitest = Pick<typeof import('vitest'), 'describe' | 'it' | 'expect' | 'beforeAll' | 'afterAll'>;

/** Rows in the contract's table: far more than any batch size or socket buffer. */
export const CONTRACT_ROWS = 200_000;

/** How the server shows the progress of a statement whose text carries a marker. */
export type ServerProbe =
  /** how many of the server's statements carrying the marker are still executing (other sessions only) */
  | { activeQueries(marker: string): Promise<number> }
  /** rows the server has handed out so far for the marker's statement; undefined when it cannot tell */
  | { rowsSent(marker: string): Promise<number | undefined>; unavailable: string };

export interface ContractDb {
  /** the connector under test */
  config: ConnectorConfig;
  /** the table the contract creates and reads */
  table: string;
  /**
   * Statements creating `table` as (id int primary key, name, d date, ts timestamp, [a zoned timestamp,]
   * amount decimal(12,2), huge bigint, "MixedCase") and filling it on the server (not `rows` round trips)
   * with id 1..rows, name 'name <id>', d 2020-01-01 + id % 1000 days, ts 2020-01-01 10:00:00 + id seconds,
   * amount (id % 10000) / 100, huge 9007199254740993 (not a safe JS integer), MixedCase 'x' for even ids.
   */
  createTable(rows: number): string[];
  /** run after the adapter is closed when dropping the private schema/database does not drop the table */
  dropTable?: string[];
  /** runs one statement on the observing connection */
  execute(sql: string): Promise<void>;
  probe: ServerProbe;
  /** row 1 exactly as the adapter must yield it (the dialect's native value forms, keys in table order) */
  row1: Row;
  /** a DATE column's value as the adapter yields it, given 'YYYY-MM-DD' */
  dateText(ymd: string): string;
  /** a date as a filter value (default: the 'YYYY-MM-DD' text) */
  dateParam?(ymd: string): unknown;
  /** a query carrying `marker` whose result the server cannot have sent whole once the first row is in */
  cursorQuery(marker: string): SourceQuery;
  /** what the cursor query's first row must contain */
  cursorFirstRow: Row;
  /** `select id, <MixedCase column> as tag from <table> where id <= 10` in this dialect */
  derivedSql: string;
  /** `select 1 as One, 2 as two` in this dialect, with One keeping its case */
  columnsSql: string;
  /** a table name that does not exist */
  missingTable: string;
  /** a connector for a server nobody listens at; `authority` is `user:password@127.0.0.1:1` */
  deadServer(authority: string): Partial<ConnectorConfig>;
  /** closes the observing connection and drops the private database */
  close(): Promise<void>;
}

const DEAD_PASSWORD = 'sekret-Pw-42';

/** Until the condition holds (servers publish session state asynchronously); no timing asserted. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function isSkip(database: unknown): database is { skip: string } {
  return typeof database === 'object' && database !== null && 'skip' in database;
}

/**
 * The adapter contract as one describe block. `database` is `{ skip }` (from test/support/databases.ts)
 * when there is no server, which must be known while vitest collects, so the block shows as skipped with
 * it; otherwise `setup` turns it into a ContractDb before the tests run.
 */
export function describeAdapterContract<D>(
  t: Vitest,
  name: string,
  database: D | { skip: string },
  setup: (database: D) => Promise<ContractDb>,
): void {
  const { describe, it, expect, beforeAll, afterAll } = t;
  if (isSkip(database)) {
    describe.skip(`${name} (${database.skip})`, () => it('needs a database', () => undefined));
    return;
  }
  describe(name, () => {
    let db: ContractDb;
    let adapter: SourceAdapter;
    const byId = (id: number): SourceQuery => ({ table: db.table, where: [{ column: 'id', op: '=', value: id }] });
    const activeQueries = async (marker: string): Promise<number | undefined> =>
      'activeQueries' in db.probe ? db.probe.activeQueries(marker) : undefined;
    /** the adapter's pool hands out a connection again (Oracle's holds one, so a leaked one would hang) */
    const expectPoolUsable = async (id: number): Promise<void> => {
      expect(await collect(adapter.stream(byId(id)))).toHaveLength(1);
      expect(await collect(adapter.stream({ table: db.table, limit: 2 }))).toHaveLength(2);
    };

    beforeAll(async () => {
      db = await setup(database);
      for (const sql of db.createTable(CONTRACT_ROWS)) await db.execute(sql);
      adapter = await openAdapter(db.config);
    }, 300_000);

    afterAll(async () => {
      await adapter?.close();
      for (const sql of db?.dropTable ?? []) await db.execute(sql).catch(() => undefined);
      await db?.close();
    }, 300_000);

    it('streams portable values: dates and timestamps as text, exact numerics and BIGINT as exact strings, keys lower-cased', async () => {
      const [row] = await collect(adapter.stream({ table: db.table.toLowerCase(), where: [{ column: 'ID', op: '=', value: 1 }] }));
      expect(row).toEqual(db.row1);
      // amount keeps the column's two decimals ('23.40'); d = 2020-01-01 + (id % 1000) days
      for (const [id, amount, mixedcase] of [
        [12340, '23.40', 'x'],
        [12345, '23.45', null],
      ] as const) {
        const [other] = await collect(adapter.stream(byId(id)));
        const d = db.dateText(new Date(Date.UTC(2020, 0, 1 + (id % 1000))).toISOString().slice(0, 10));
        expect(other).toMatchObject({ id, amount, d, mixedcase });
        expect(Object.values(other!).some((v) => v instanceof Date)).toBe(false);
      }
    });

    it('streams from the server: the statement is still open after the first row, and break releases it', async (ctx) => {
      const marker = `fbt_cursor_${Date.now()}`;
      const iterator = adapter.stream(db.cursorQuery(marker), { batchSize: 100 })[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done).toBe(false);
      expect(first.value).toMatchObject(db.cursorFirstRow);
      // A client that read the whole result before handing out the first row would have let the server
      // finish the statement (and fetched all of it).
      const running = await activeQueries(marker);
      const sent = 'rowsSent' in db.probe ? await db.probe.rowsSent(marker) : undefined;
      await iterator.return?.();
      await expectPoolUsable(2);
      if ('activeQueries' in db.probe) {
        expect(running).toBe(1);
        expect(await eventually(async () => (await activeQueries(marker)) === 0)).toBe(true);
      } else {
        if (sent === undefined) ctx.skip(db.probe.unavailable);
        expect(sent).toBeLessThan(CONTRACT_ROWS);
      }
    }, 30_000);

    it('streams a table much larger than batchSize completely', async () => {
      let count = 0;
      let last = 0;
      for await (const row of adapter.stream({ table: db.table, orderBy: ['id'] }, { batchSize: 500 })) {
        count++;
        expect(row.id).toBeGreaterThan(last);
        last = row.id as number;
      }
      expect(count).toBe(CONTRACT_ROWS);
    }, 300_000);

    it('aborting the signal ends the stream with the abort reason and releases the statement', async () => {
      const marker = `fbt_abort_${Date.now()}`;
      const controller = new AbortController();
      let seen = 0;
      const run = async (): Promise<void> => {
        const query = { sql: `select /* ${marker} */ * from ${db.table}`, limit: CONTRACT_ROWS };
        for await (const _row of adapter.stream(query, { signal: controller.signal, batchSize: 50 })) {
          if (++seen === 5) controller.abort(new Error('stop here'));
        }
      };
      await expect(run()).rejects.toThrow('stop here');
      expect(seen).toBe(5);
      if ('activeQueries' in db.probe) expect(await eventually(async () => (await activeQueries(marker)) === 0)).toBe(true);
      await expectPoolUsable(3);
    }, 30_000);

    it('an already aborted signal reads nothing', async () => {
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      await expect(collect(adapter.stream({ table: db.table }, { signal: controller.signal }))).rejects.toThrow('too late');
    });

    it('pushes filters, order and limit down, and wraps sql sources', async () => {
      const rows = await collect(
        adapter.stream({
          sql: { [db.config.kind]: db.derivedSql, default: 'select nonsense' },
          where: [
            { column: 'TAG', op: 'is not null' },
            { column: 'id', op: 'not in', value: [4] },
          ],
          orderBy: ['id desc'],
          limit: 3,
        }),
      );
      expect(rows).toEqual([
        { id: 10, tag: 'x' },
        { id: 8, tag: 'x' },
        { id: 6, tag: 'x' },
      ]);
      const inRows = await collect(
        adapter.stream({ table: db.table, where: [{ column: 'id', op: 'in', value: [3, 7, 400000] }], orderBy: ['id'] }),
      );
      expect(inRows.map((r) => r.id)).toEqual([3, 7]);
      const ranged = await collect(
        adapter.stream({
          table: db.table,
          where: [
            { column: 'd', op: '>=', value: db.dateParam ? db.dateParam('2020-01-05') : '2020-01-05' },
            { column: 'id', op: '<', value: 10 },
          ],
          orderBy: ['id'],
        }),
      );
      expect(ranged.map((r) => r.id)).toEqual([4, 5, 6, 7, 8, 9]);
    });

    it('lists columns lower-cased', async () => {
      expect(await adapter.columns({ table: db.table })).toEqual(Object.keys(db.row1));
      expect(await adapter.columns({ sql: db.columnsSql })).toEqual(['one', 'two']);
    });

    it("lists the tables of the connection's schema lower-cased, the contract's among them (fhir-bridge coverage)", async () => {
      if (!adapter.tableNames) throw new Error(`${adapter.dialect} adapter has no tableNames`);
      const tables = await adapter.tableNames();
      expect(tables).toContain(db.table.split('.').pop()!.toLowerCase());
      expect(tables).not.toContain(db.missingTable.split('.').pop()!.toLowerCase());
      expect(tables).toEqual([...tables].sort());
    });

    it('lists index keys lower-cased, the primary key included, and sees a new index', async () => {
      if (!adapter.indexedColumns) throw new Error(`${adapter.dialect} adapter has no indexedColumns`);
      const before = await adapter.indexedColumns(db.table);
      expect(before).toContainEqual(['id']);
      expect(before.some((columns) => columns[0] === 'name')).toBe(false);
      const index = `${db.table}_name_idx`;
      await db.execute(`create index ${index} on ${db.table} (name, d)`);
      expect(await adapter.indexedColumns(db.table)).toContainEqual(['name', 'd']);
      expect(await adapter.indexedColumns(db.missingTable)).toEqual([]);
    });

    it('reports a missing table as a ConnectorError naming it', async () => {
      const err = await collect(adapter.stream({ table: db.missingTable })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain(`table ${db.missingTable}`);
    });

    it('reports a dead server as a ConnectorError without the password', async () => {
      const dead = await openAdapter({ ...db.config, ...db.deadServer(`someone:${DEAD_PASSWORD}@127.0.0.1:1`) });
      try {
        const err = await dead.ping().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectorError);
        expect((err as Error).message).toContain('127.0.0.1:1');
        expect((err as Error).message).not.toContain(DEAD_PASSWORD);
        const streamErr = await collect(dead.stream({ table: 'patients' })).catch((e: unknown) => e);
        expect(streamErr).toBeInstanceOf(ConnectorError);
        expect((streamErr as Error).message).toContain('table patients');
        expect(JSON.stringify(streamErr) + String((streamErr as Error).stack)).not.toContain(DEAD_PASSWORD);
      } finally {
        await dead.close();
      }
    }, 60_000);
  });
}
