// SQL Server and Oracle cannot run here: their SQL is covered by sql-builder.test.ts, their value handling here.
import oracledb from 'oracledb';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../../errors.js';
import { openAdapter } from '../index.js';
import { MssqlAdapter, mssqlConfig, mssqlDecimalText, mssqlTemporalText, normaliseMssqlRow } from './mssql-adapter.js';
import {
  OracleAdapter,
  oracleConfig,
  oracleFetchType,
  oracleInstantText,
  oracleLocalDateText,
  oracleNumberText,
  SESSION_SETUP,
  type OracleConnection,
  type OraclePool,
  type OracleTypes,
} from './oracle-adapter.js';
import { normaliseRow } from '../normalise.js';
import type { Row } from '../types.js';

describe('mssql row normalisation', () => {
  // tedious with useUTC builds Dates whose UTC fields are the stored values
  const stored = new Date(Date.UTC(2014, 4, 6, 8, 34, 30, 0));
  const columns = {
    Birth: { type: { declaration: 'date' } },
    Start: { type: { declaration: 'datetime2' } },
    Seen: { type: { declaration: 'datetimeoffset' } },
    At: { type: { declaration: 'time' } },
  };

  it('turns tedious Dates back into text by column type and lower-cases keys', () => {
    const row = normaliseMssqlRow(
      {
        Id: 7,
        Birth: new Date(Date.UTC(1950, 0, 2)),
        Start: stored,
        Seen: stored,
        At: new Date(Date.UTC(1970, 0, 1, 13, 5, 9, 120)),
        Big: '9007199254740993',
        Note: null,
      },
      columns,
    );
    expect(row).toEqual({
      id: 7,
      birth: '1950-01-02',
      start: '2014-05-06 08:34:30',
      seen: '2014-05-06T08:34:30.000Z',
      at: '13:05:09.120',
      big: '9007199254740993',
      note: null,
    });
  });

  it('writes DECIMAL, NUMERIC and MONEY with their scale, as the other SQL adapters do', () => {
    const row = normaliseMssqlRow(
      { Amount: 0.1, Rate: 12, Price: 3.5, Count: 7, Ratio: 0.25 },
      {
        Amount: { scale: 2, type: { declaration: 'decimal' } },
        Rate: { scale: 3, type: { declaration: 'numeric' } },
        Price: { scale: 4, type: { declaration: 'money' } },
        Count: { scale: 0, type: { declaration: 'int' } },
        Ratio: { type: { declaration: 'float' } },
      },
    );
    expect(row).toEqual({ amount: '0.10', rate: '12.000', price: '3.5000', count: 7, ratio: 0.25 });
    expect(mssqlDecimalText(-1234567890123.45, 2)).toBe('-1234567890123.45');
    expect(mssqlDecimalText(1e22, 2)).toBe('1e+22');
  });

  it('keeps milliseconds of DATETIME values', () => {
    expect(mssqlTemporalText(new Date(Date.UTC(2020, 11, 31, 23, 59, 59, 997)), 'datetime')).toBe('2020-12-31 23:59:59.997');
  });

  it('reads connection URLs, always with useUTC', () => {
    const config = mssqlConfig('mssql://sa:p%40ss@db.example:14330/ehr?trustServerCertificate=true', { max: 4 });
    expect(config).toMatchObject({
      server: 'db.example',
      port: 14330,
      user: 'sa',
      password: 'p@ss',
      database: 'ehr',
      options: { encrypt: true, trustServerCertificate: true, useUTC: true },
      pool: { max: 4 },
    });
    expect(mssqlConfig({ server: 'h', options: { useUTC: false } }).options).toMatchObject({ useUTC: true });
  });
});

describe('mssql streaming', () => {
  it('a signal aborted while the pool connects sends no query', async () => {
    const adapter = new MssqlAdapter({
      file: '/c.yaml',
      timezone: 'UTC',
      mappings: [],
      name: 'ms',
      kind: 'mssql',
      connection: 'mssql://sa:x@db.example/ehr',
    });
    const controller = new AbortController();
    let requests = 0;
    // stands in for the pool's connect(): the signal fires while it is under way
    Object.assign(adapter, {
      connected: async () => {
        controller.abort(new Error('stop here'));
        return {
          request: () => {
            requests++;
            return {};
          },
        };
      },
    });
    const run = async (): Promise<void> => {
      for await (const _row of adapter.stream({ table: 'big' }, { signal: controller.signal })) void _row;
    };
    await expect(run()).rejects.toThrow('stop here');
    expect(requests).toBe(0);
    await adapter.close();
  });
});

describe('oracle value handling', () => {
  const types = oracledb as unknown as OracleTypes;
  it('fetches dates and timestamps through text converters, LOBs and non-integer NUMBERs as strings', () => {
    for (const dbType of [types.DB_TYPE_DATE, types.DB_TYPE_TIMESTAMP])
      expect(oracleFetchType({ dbType }, types)).toEqual({ converter: oracleLocalDateText });
    for (const dbType of [types.DB_TYPE_TIMESTAMP_TZ, types.DB_TYPE_TIMESTAMP_LTZ])
      expect(oracleFetchType({ dbType }, types)).toEqual({ converter: oracleInstantText });
    expect(oracleFetchType({ dbType: types.DB_TYPE_CLOB }, types)).toEqual({ type: types.STRING });
    expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 10, scale: 0 }, types)).toBeUndefined();
    for (const meta of [
      { precision: 19, scale: 0 },
      { precision: 12, scale: 2 },
      { precision: 0, scale: -127 },
    ])
      expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, ...meta }, types)).toMatchObject({ type: types.STRING });
    const decimal = oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 12, scale: 2 }, types)!.converter as (
      v: string | null,
    ) => unknown;
    expect(decimal('12.5')).toBe('12.50');
    expect(decimal('.01')).toBe('0.01');
    expect(decimal(null)).toBeNull();
    const plain = oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 0, scale: -127 }, types)!.converter as (v: string) => unknown;
    expect(plain('-.5')).toBe('-0.5');
    expect(plain('9007199254740993')).toBe('9007199254740993');
  });

  it('writes NUMBER digits as plain decimals padded to the column scale', () => {
    expect(oracleNumberText('.01', 2)).toBe('0.01');
    expect(oracleNumberText('-.5')).toBe('-0.5');
    expect(oracleNumberText('12', 2)).toBe('12.00');
    expect(oracleNumberText('12.345', 2)).toBe('12.345');
    expect(oracleNumberText('1.5E+20', 2)).toBe('1.5E+20');
  });

  it('writes DATE/TIMESTAMP from the Date thin mode builds in local time, and instants in UTC', () => {
    // Thin mode builds DATE and TIMESTAMP values with new Date(y, m, d, h, mi, s, ms): local fields
    expect(oracleLocalDateText(new Date(1950, 0, 2, 0, 0, 0))).toBe('1950-01-02 00:00:00');
    expect(oracleLocalDateText(new Date(2020, 11, 31, 23, 59, 59, 250))).toBe('2020-12-31 23:59:59.250');
    expect(oracleLocalDateText(null)).toBeNull();
    expect(oracleInstantText(new Date(Date.UTC(2020, 0, 1, 8, 0, 0, 250)))).toBe('2020-01-01T08:00:00.250Z');
  });

  it('sets the session formats the text conversion relies on', () => {
    expect(SESSION_SETUP).toContain("NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'");
    expect(SESSION_SETUP).toContain("TIME_ZONE = 'UTC'");
    expect(SESSION_SETUP).toContain("NLS_NUMERIC_CHARACTERS = '.,'");
  });

  it('lower-cases the upper-case names Oracle returns', () => {
    expect(normaliseRow({ ID: 1, BIRTHDATE: '1950-01-02 00:00:00', AMOUNT: '12.50', NOTE: undefined })).toEqual({
      id: 1,
      birthdate: '1950-01-02 00:00:00',
      amount: '12.50',
      note: null,
    });
  });

  it('reads connection URLs', () => {
    expect(oracleConfig('oracle://app:s%2Fecret@db.example/FREEPDB1')).toEqual({
      user: 'app',
      password: 's/ecret',
      connectString: 'db.example:1521/FREEPDB1',
    });
  });
});

/** A stand-in for an oracledb pool whose one connection serves `total` rows and records every call. */
function fakeOracle(total: number, options: { failExecute?: Error; hangOnGetRows?: number; maxPerCall?: number } = {}) {
  const log: string[] = [];
  let served = 0;
  let calls = 0;
  let hanging: ((err: Error) => void) | undefined;
  const resultSet = {
    async getRows(count: number): Promise<Array<Record<string, unknown>>> {
      log.push(`getRows ${count}`);
      if (++calls === options.hangOnGetRows) return new Promise((_, reject) => (hanging = reject));
      const rows: Array<Record<string, unknown>> = [];
      while (rows.length < Math.min(count, options.maxPerCall ?? count) && served < total) rows.push({ ID: ++served, NOTE: undefined });
      return rows;
    },
    async close(): Promise<void> {
      log.push('resultSet.close');
    },
  };
  const connection: OracleConnection = {
    async execute(sql, _binds, execOptions) {
      log.push(`execute ${sql} resultSet=${String(execOptions?.resultSet)}`);
      if (options.failExecute) throw options.failExecute;
      return { resultSet };
    },
    async breakExecution() {
      log.push('break');
      hanging?.(new Error('ORA-01013: user requested cancel of current operation'));
    },
    async close() {
      log.push('connection.close');
    },
  };
  const pool: OraclePool = {
    async getConnection() {
      log.push('getConnection');
      return connection;
    },
    async close() {
      log.push('pool.close');
    },
  };
  return { log, pool, served: () => served };
}

describe('oracle streaming (driver stand-in)', () => {
  const config = {
    file: '/c.yaml',
    timezone: 'UTC',
    mappings: [] as string[],
    name: 'ora',
    kind: 'oracle' as const,
    connection: 'oracle://app:sekret-Pw-42@db.example/FREEPDB1',
  };
  const open = (fake: ReturnType<typeof fakeOracle>): OracleAdapter => new OracleAdapter(config, async () => fake.pool);

  it('fetches one batch at a time, only when the consumer wants more rows', async () => {
    const fake = fakeOracle(1000);
    const iterator = open(fake).stream({ table: 'big' }, { batchSize: 10 })[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ id: 1, note: null });
    expect(fake.served()).toBe(10);
    for (let i = 0; i < 10; i++) await iterator.next();
    expect(fake.served()).toBe(20);
    expect(fake.log.filter((l) => l.startsWith('getRows'))).toEqual(['getRows 10', 'getRows 10']);
    expect(fake.log[1]).toBe('execute select * from "BIG" resultSet=true');
  });

  it('reads to the end, then closes the result set before releasing the connection', async () => {
    const fake = fakeOracle(25);
    const rows: Row[] = [];
    for await (const row of open(fake).stream({ table: 'big' }, { batchSize: 10 })) rows.push(row);
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(fake.log.slice(-2)).toEqual(['resultSet.close', 'connection.close']);
  });

  it('takes only an empty batch for the end, not a short one', async () => {
    const fake = fakeOracle(25, { maxPerCall: 3 });
    const rows: Row[] = [];
    for await (const row of open(fake).stream({ table: 'big' }, { batchSize: 10 })) rows.push(row);
    expect(rows).toHaveLength(25);
  });

  it('breaking out of the loop closes the result set and releases the connection', async () => {
    const fake = fakeOracle(1000);
    for await (const row of open(fake).stream({ table: 'big' }, { batchSize: 10 })) if (row.id === 3) break;
    expect(fake.served()).toBe(10);
    expect(fake.log.slice(-2)).toEqual(['resultSet.close', 'connection.close']);
  });

  it('aborting while a fetch is on the wire breaks it, rejects with the reason and releases everything', async () => {
    const fake = fakeOracle(1000, { hangOnGetRows: 2 });
    const controller = new AbortController();
    const seen: unknown[] = [];
    const run = async (): Promise<void> => {
      for await (const row of open(fake).stream({ table: 'big' }, { batchSize: 10, signal: controller.signal })) {
        seen.push(row.id);
        // the 11th row needs the second fetch, which hangs until the break
        if (seen.length === 10) setTimeout(() => controller.abort(new Error('stop here')), 0);
      }
    };
    await expect(run()).rejects.toThrow('stop here');
    expect(seen).toHaveLength(10);
    expect(fake.log.slice(-3)).toEqual(['break', 'resultSet.close', 'connection.close']);
  });

  it('aborting between rows stops at once without a break', async () => {
    const fake = fakeOracle(1000);
    const controller = new AbortController();
    let seen = 0;
    const run = async (): Promise<void> => {
      for await (const _row of open(fake).stream({ table: 'big' }, { batchSize: 50, signal: controller.signal })) {
        if (++seen === 5) controller.abort(new Error('stop here'));
      }
    };
    await expect(run()).rejects.toThrow('stop here');
    expect(seen).toBe(5);
    expect(fake.log).not.toContain('break');
    expect(fake.log.slice(-2)).toEqual(['resultSet.close', 'connection.close']);
  });

  it('keeps a pool whose connection attempt failed, so close() still ends it', async () => {
    const fake = fakeOracle(1);
    let created = 0;
    let attempts = 0;
    const adapter = new OracleAdapter(config, async () => {
      created++;
      return {
        getConnection: async () => {
          if (++attempts === 1) throw new Error('ORA-12541: cannot connect');
          return fake.pool.getConnection();
        },
        close: () => fake.pool.close(),
      };
    });
    await expect(adapter.ping()).rejects.toBeInstanceOf(ConnectorError);
    const rows: Row[] = [];
    for await (const row of adapter.stream({ table: 'big' })) rows.push(row);
    expect(rows).toHaveLength(1);
    await adapter.close();
    expect(created).toBe(1);
    expect(fake.log.at(-1)).toBe('pool.close');
  });

  it('a failing query is a ConnectorError naming the table, without the password, and releases the connection', async () => {
    const fake = fakeOracle(0, { failExecute: new Error('ORA-00942: table or view does not exist (app/sekret-Pw-42)') });
    const err = await (async () => {
      for await (const _row of open(fake).stream({ table: 'big' })) void _row;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toContain('table big');
    expect((err as Error).message).toContain('ORA-00942');
    expect(String((err as Error).message) + String((err as Error).stack)).not.toContain('sekret-Pw-42');
    expect(fake.log.at(-1)).toBe('connection.close');
  });
});

describe('unreachable servers', () => {
  it('mssql and oracle report a dead server as a ConnectorError without the password', async () => {
    const base = { file: '/c.yaml', timezone: 'UTC', mappings: [] as string[] };
    const mssql = await openAdapter({
      ...base,
      name: 'dead-mssql',
      kind: 'mssql',
      connection: 'mssql://sa:sekret-Pw-42@127.0.0.1:1/x?trustServerCertificate=true',
    });
    const oracle = await openAdapter({
      ...base,
      name: 'dead-oracle',
      kind: 'oracle',
      connection: 'oracle://app:sekret-Pw-42@127.0.0.1:1/FREEPDB1',
    });
    for (const adapter of [mssql, oracle]) {
      const err = await adapter.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain('127.0.0.1');
      expect((err as Error).message).not.toContain('sekret-Pw-42');
      await adapter.close();
    }
  }, 30_000);
});
