// SQL Server and Oracle cannot run here: their SQL is covered by sql-builder.test.ts, their value handling here.
import oracledb from 'oracledb';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { openAdapter } from './index.js';
import { mssqlConfig, mssqlTemporalText, normaliseMssqlRow } from './mssql.js';
import { normaliseOracleRow, oracleConfig, oracleFetchType, SESSION_SETUP, type OracleTypes } from './oracle.js';

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
      { Id: 7, Birth: new Date(Date.UTC(1950, 0, 2)), Start: stored, Seen: stored, At: new Date(Date.UTC(1970, 0, 1, 13, 5, 9, 120)), Big: '9007199254740993', Note: null },
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

describe('oracle value handling', () => {
  const types = oracledb as unknown as OracleTypes;
  it('fetches dates, timestamps, LOBs and non-integer NUMBERs as text', () => {
    for (const dbType of [types.DB_TYPE_DATE, types.DB_TYPE_TIMESTAMP, types.DB_TYPE_TIMESTAMP_TZ, types.DB_TYPE_TIMESTAMP_LTZ, types.DB_TYPE_CLOB])
      expect(oracleFetchType({ dbType }, types)).toEqual({ type: types.STRING });
    expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 10, scale: 0 }, types)).toBeUndefined();
    expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 19, scale: 0 }, types)).toEqual({ type: types.STRING });
    expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 12, scale: 2 }, types)).toEqual({ type: types.STRING });
    expect(oracleFetchType({ dbType: types.DB_TYPE_NUMBER, precision: 0, scale: -127 }, types)).toEqual({ type: types.STRING });
  });

  it('sets the session formats the text conversion relies on', () => {
    expect(SESSION_SETUP).toContain("NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS'");
    expect(SESSION_SETUP).toContain("TIME_ZONE = 'UTC'");
    expect(SESSION_SETUP).toContain("NLS_NUMERIC_CHARACTERS = '.,'");
  });

  it('lower-cases the upper-case names Oracle returns', () => {
    expect(normaliseOracleRow({ ID: 1, BIRTHDATE: '1950-01-02 00:00:00', AMOUNT: '12.50', NOTE: undefined })).toEqual({
      id: 1,
      birthdate: '1950-01-02 00:00:00',
      amount: '12.50',
      note: null,
    });
  });

  it('reads connection URLs', () => {
    expect(oracleConfig('oracle://app:s%2Fecret@db.example/FREEPDB1')).toEqual({ user: 'app', password: 's/ecret', connectString: 'db.example:1521/FREEPDB1' });
  });
});

describe('unreachable servers', () => {
  it('mssql and oracle report a dead server as a ConnectorError without the password', async () => {
    const base = { file: '/c.yaml', timezone: 'UTC', mappings: [] as string[] };
    const mssql = await openAdapter({ ...base, name: 'dead-mssql', kind: 'mssql', connection: 'mssql://sa:sekret-Pw-42@127.0.0.1:1/x?trustServerCertificate=true' });
    const oracle = await openAdapter({ ...base, name: 'dead-oracle', kind: 'oracle', connection: 'oracle://app:sekret-Pw-42@127.0.0.1:1/FREEPDB1' });
    for (const adapter of [mssql, oracle]) {
      const err = await adapter.ping().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect((err as Error).message).toContain('127.0.0.1');
      expect((err as Error).message).not.toContain('sekret-Pw-42');
      await adapter.close();
    }
  }, 30_000);
});
