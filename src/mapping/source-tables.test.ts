// Reading a mapping's SQL for the tables and columns it reads (fhir-bridge coverage, summary.json sources).
import { describe, expect, it } from 'vitest';
import { drivingTable, readSql, sqlTexts } from './source-tables.js';

describe('readSql', () => {
  it('finds tables with their aliases, qualified columns, renames and the outer FROM', () => {
    const r = readSql(`SELECT m.*, e.PROVIDER AS requester, MIN(p.DEATHDATE) AS died
      FROM medications m LEFT JOIN encounters AS e ON e.Id = m.ENCOUNTER
      LEFT JOIN (SELECT PATIENT, MAX(START_DATE) AS s FROM payer_transitions GROUP BY PATIENT) pt ON pt.PATIENT = m.PATIENT
      LEFT JOIN patients p ON p.Id = m.PATIENT -- a comment naming FROM nowhere`);
    expect(r.tables).toEqual(['medications', 'encounters', 'payer_transitions', 'patients']);
    expect(r.driving).toBe('medications');
    expect(r.stars).toEqual(['medications']);
    expect(r.renames.get('requester')).toEqual({ table: 'encounters', column: 'provider' });
    expect(r.renames.get('died')).toEqual({ table: 'patients', column: 'deathdate' });
    // the derived table `pt` stands for the table it reads
    expect(r.aliases.get('pt')).toBe('payer_transitions');
    expect(r.qualified).toContainEqual({ table: 'payer_transitions', column: 'patient' });
    // bare words are candidates for unqualified columns; qualified ones and keywords are not among them
    expect(r.words.has('start_date')).toBe(true);
    expect(r.words.has('provider')).toBe(false);
    expect(r.words.has('select')).toBe(false);
    expect(r.words.has('nowhere')).toBe(false);
  });

  it('takes the outer FROM of a query over a derived table, and ignores string literals', () => {
    const r = readSql(
      `SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY CLM_ID) AS r FROM bcarrier t WHERE t.X = 'FROM claims') h WHERE r = 1`,
    );
    expect(r.driving).toBe('bcarrier');
    expect(r.tables).toEqual(['bcarrier']);
    expect(r.stars).toContain('*');
  });
});

describe('drivingTable and sqlTexts', () => {
  it("a table: source is its table; a sql: one the variant the dialect runs (with the dialect's fallbacks)", () => {
    expect(drivingTable({ table: 'main.Patients' })).toBe('patients');
    const query = { sql: { sqlite: 'SELECT * FROM a', postgres: 'SELECT * FROM b', default: 'SELECT * FROM c' } };
    expect(drivingTable(query, 'csv')).toBe('a'); // csv runs its SQL on SQLite
    expect(drivingTable(query, 'duckdb')).toBe('b'); // duckdb falls back to postgres
    expect(drivingTable(query, 'mssql')).toBe('c');
    expect(sqlTexts(query)).toHaveLength(3);
  });
});
