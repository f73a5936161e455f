import { describe, expect, it } from 'vitest';
import { bindValue, buildSelect, foldIdentifier, sqlFor, type SqlDialect } from './sql-builder.js';
import type { SourceQuery } from './types.js';

const children: SourceQuery = {
  table: 'Observations',
  where: [
    { column: 'PATIENT', op: 'in', value: ['p1', 'p2'] },
    { column: 'Value', op: 'is not null' },
    { column: 'date', op: '>=', value: '2020-01-01' },
  ],
  orderBy: ['DATE desc', 'code'],
  limit: 10,
};

describe('buildSelect', () => {
  it('postgres: lower-cased quoted identifiers, $n placeholders, LIMIT', () => {
    expect(buildSelect('postgres', children)).toEqual({
      sql: 'select * from "observations" where "patient" in ($1, $2) and "value" is not null and "date" >= $3 order by "date" desc, "code" asc limit $4',
      bindings: ['p1', 'p2', '2020-01-01', 10],
    });
  });

  it('mysql and sqlite: backticks and ? placeholders', () => {
    const expected =
      'select * from `Observations` where `PATIENT` in (?, ?) and `Value` is not null and `date` >= ? order by `DATE` desc, `code` asc limit ?';
    expect(buildSelect('mysql', children).sql).toBe(expected);
    expect(buildSelect('sqlite', children).sql).toBe(expected);
  });

  it('mssql: brackets, @p placeholders, TOP instead of LIMIT', () => {
    const built = buildSelect('mssql', children);
    expect(built.sql).toBe(
      'select top (@p0) * from [Observations] where [PATIENT] in (@p1, @p2) and [Value] is not null and [date] >= @p3 order by [DATE] desc, [code] asc',
    );
    expect(built.bindings).toEqual([10, 'p1', 'p2', '2020-01-01']);
  });

  it('oracle: upper-cased quoted identifiers (so reserved words like DATE work), :n placeholders, ROWNUM', () => {
    const built = buildSelect('oracle', children);
    expect(built.sql).toContain(
      'from "OBSERVATIONS" where "PATIENT" in (:1, :2) and "VALUE" is not null and "DATE" >= :3 order by "DATE" desc, "CODE" asc',
    );
    expect(built.sql).toMatch(/rownum <= :4/);
    expect(built.bindings).toEqual(['p1', 'p2', '2020-01-01', 10]);
  });

  it('wraps sql sources as a derived table, choosing the dialect entry or default', () => {
    const query: SourceQuery = {
      sql: { default: 'select a from t;', oracle: 'select a from t where rownum < 5' },
      where: [{ column: 'a', op: '=', value: 1 }],
    };
    expect(buildSelect('postgres', query).sql).toBe('select * from (select a from t) src where "a" = $1');
    expect(buildSelect('oracle', query).sql).toBe('select * from (select a from t where rownum < 5) src where "A" = :1');
    expect(buildSelect('mssql', query).sql).toBe('select * from (select a from t) src where [a] = @p0');
  });

  it('runs a bare sql source as written, so its own ORDER BY survives', () => {
    expect(buildSelect('mssql', { sql: 'select a from t order by a;' })).toEqual({ sql: 'select a from t order by a', bindings: [] });
  });

  it('selects only the columns asked for, from a table or around a sql source', () => {
    expect(buildSelect('postgres', { table: 'Claims', columns: ['Id'], orderBy: ['Id'] }).sql).toBe(
      'select "id" from "claims" order by "id" asc',
    );
    // a bare sql source is wrapped once columns are asked for, so the database can leave the rest out
    expect(buildSelect('postgres', { sql: 'select c.*, x.total from c left join x on x.id = c.id', columns: ['id'] }).sql).toBe(
      'select "id" from (select c.*, x.total from c left join x on x.id = c.id) src',
    );
    expect(buildSelect('oracle', { table: 'claims', columns: ['Id'] }).sql).toBe('select "ID" from "CLAIMS"');
    expect(buildSelect('mssql', { table: 'claims', columns: ['Id', 'Patient'] }).sql).toBe('select [Id], [Patient] from [claims]');
  });

  it('builds a no-rows query for column discovery', () => {
    for (const dialect of ['sqlite', 'postgres', 'mysql', 'mssql', 'oracle'] as SqlDialect[]) {
      const built = buildSelect(dialect, { table: 'patients' }, { noRows: true });
      expect(built.sql).toMatch(/where 1 = 0$/);
    }
  });

  it('turns comparisons with null into IS [NOT] NULL and an empty IN into no rows', () => {
    expect(
      buildSelect('postgres', {
        table: 't',
        where: [
          { column: 'a', op: '=', value: null },
          { column: 'b', op: '!=', value: null },
        ],
      }).sql,
    ).toBe('select * from "t" where "a" is null and "b" is not null');
    expect(buildSelect('postgres', { table: 't', where: [{ column: 'a', op: 'in', value: [] }] }).sql).toBe(
      'select * from "t" where 1 = 0',
    );
  });

  it('rejects an IN filter without a list, and a query with neither table nor sql', () => {
    expect(() => buildSelect('postgres', { table: 't', where: [{ column: 'a', op: 'in', value: 'x' }] })).toThrow(/needs a list/);
    expect(() => buildSelect('postgres', {})).toThrow(/table or sql/);
  });
});

describe('helpers', () => {
  it('folds identifiers like the database folds unquoted names', () => {
    expect(foldIdentifier('postgres', 'PATIENT')).toBe('patient');
    expect(foldIdentifier('oracle', 'patient')).toBe('PATIENT');
    expect(foldIdentifier('mssql', 'Patient')).toBe('Patient');
  });

  it('binds Dates as UTC text, never in local time', () => {
    const d = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6));
    expect(bindValue('postgres', d)).toBe('2024-01-02T03:04:05.006Z');
    expect(bindValue('mysql', d)).toBe('2024-01-02 03:04:05.006');
    expect(bindValue('mysql', 12n)).toBe('12');
  });

  it('picks the SQL of a dialect, then default', () => {
    expect(sqlFor({ sql: { default: 'd', mysql: 'm' } }, 'mysql')).toBe('m');
    expect(sqlFor({ sql: { default: 'd', mysql: 'm' } }, 'sqlite')).toBe('d');
    expect(sqlFor({ sql: { default: 'd', sqlite: 's' } }, 'csv')).toBe('s');
    expect(sqlFor({ sql: { default: 'd', sqlite: 's', csv: 'c' } }, 'csv')).toBe('c');
    expect(sqlFor({ sql: { mysql: 'm' } }, 'sqlite')).toBeUndefined();
  });

  it("follows the descriptor's fallbacks: duckdb takes postgres's SQL before default", () => {
    expect(sqlFor({ sql: { default: 'd', postgres: 'p', sqlite: 's' } }, 'duckdb')).toBe('p');
    expect(sqlFor({ sql: { default: 'd', sqlite: 's' } }, 'duckdb')).toBe('d');
    expect(sqlFor({ sql: { default: 'd', postgres: 'p', duckdb: 'k' } }, 'duckdb')).toBe('k');
  });

  it('spells DuckDB queries as PostgreSQL ($n placeholders, lower-cased quoted names)', () => {
    expect(buildSelect('duckdb', { table: 'Patients', where: [{ column: 'ID', op: 'in', value: ['a', 'b'] }], limit: 5 })).toEqual({
      sql: 'select * from "patients" where "id" in ($1, $2) limit $3',
      bindings: ['a', 'b', 5],
    });
  });
});
