// A SourceQuery as SQL, spelled the way the dialect's descriptor says (knex client, identifier folding, Date
// binds). knex builds the SQL (it needs no connection, so no driver is loaded here); the adapters only run it
// with their own streaming driver.
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { ConnectorError } from '../errors.js';
import type { SqlSpelling } from './dialect-descriptor.js';
import { dialect } from './registry.js';
import type { Dialect, Filter, SourceQuery } from './types.js';

/** A dialect that spells its own SQL (every one whose descriptor has `sql`). */
export type SqlDialect = Dialect;

export interface BuiltQuery {
  /** SQL with the driver's own placeholders ($1 for pg, ? for mysql/sqlite, @p0 for mssql, :1 for oracle) */
  sql: string;
  bindings: unknown[];
}

function spelling(name: SqlDialect): SqlSpelling {
  const d = dialect(name);
  if (!d.sql) throw new ConnectorError(`the ${name} connector does not run SQL of its own`);
  return d.sql;
}

const builders = new Map<SqlDialect, Knex>();

function builder(name: SqlDialect): Knex {
  let k = builders.get(name);
  if (!k) {
    k = knexPkg.knex({ client: spelling(name).knexClient, useNullAsDefault: true });
    builders.set(name, k);
  }
  return k;
}

/**
 * An identifier as the database folds an unquoted one, so that `PATIENT`, `patient` and `Patient` in a
 * mapping all find a column created without quotes (PostgreSQL folds to lower case, Oracle to upper case;
 * the others compare column names case-insensitively). Quoting still happens (knex does it), which keeps
 * reserved words such as DATE or START usable as column names.
 */
export function foldIdentifier(name: SqlDialect, identifier: string): string {
  const fold = spelling(name).foldIdentifier;
  return fold ? fold(identifier) : identifier;
}

/** The SELECT text of a `sql:` source for this dialect: its own entry, its descriptor's fallbacks, else `default`. */
export function sqlFor(query: Pick<SourceQuery, 'sql'>, name: Dialect): string | undefined {
  const { sql } = query;
  if (sql === undefined) return undefined;
  if (typeof sql === 'string') return sql;
  const variants = sql as Record<string, string | undefined>;
  for (const variant of [name, ...(dialect(name).sqlFallback ?? []), 'default'])
    if (variants[variant] !== undefined) return variants[variant];
  return undefined;
}

function cleanSql(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

/** A Date as text the database reads in UTC (sessions run in UTC; see the adapters). */
export function bindValue(name: Dialect, value: unknown): unknown {
  if (value instanceof Date) {
    const iso = value.toISOString();
    const bindDate = dialect(name).sql?.bindDate;
    return bindDate ? bindDate(iso) : iso;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** `select <columns> from <table | (sql) sub> where ...`: the subquery of an 'in query' filter. */
function subSelect(dialect: SqlDialect, select: NonNullable<Filter['select']>): Knex.QueryBuilder {
  const k = builder(dialect);
  const sql = sqlFor(select.query, dialect);
  const columns = select.columns.map((c) => `${sql === undefined ? '' : 'sub.'}${foldIdentifier(dialect, c)}`);
  const qb = select.query.table
    ? k.select(columns).from(tableName(dialect, select.query.table))
    : k.select(columns).from(k.raw(`(${cleanSql(sql ?? '')}) sub`));
  for (const f of select.query.where ?? []) applyFilter(dialect, qb, f);
  return qb;
}

function tableName(dialect: SqlDialect, table: string): string {
  return table
    .split('.')
    .map((p) => foldIdentifier(dialect, p))
    .join('.');
}

function applyFilter(dialect: SqlDialect, qb: Knex.QueryBuilder, filter: Filter): void {
  const column = foldIdentifier(dialect, filter.column);
  const value = bindValue(dialect, filter.value);
  switch (filter.op) {
    case 'in query': {
      if (!filter.select) throw new ConnectorError(`filter on ${filter.column}: 'in query' needs a select`);
      const columns = (filter.columns ?? [filter.column]).map((c) => foldIdentifier(dialect, c));
      if (columns.length !== filter.select.columns.length)
        throw new ConnectorError(`filter on ${columns.join(', ')}: the subquery selects ${filter.select.columns.length} column(s)`);
      if (columns.length === 1) qb.whereIn(columns[0]!, subSelect(dialect, filter.select));
      else qb.whereIn(columns, subSelect(dialect, filter.select));
      return;
    }
    case 'is null':
      qb.whereNull(column);
      return;
    case 'is not null':
      qb.whereNotNull(column);
      return;
    case 'in':
    case 'not in': {
      if (!Array.isArray(filter.value)) throw new ConnectorError(`filter on ${filter.column}: '${filter.op}' needs a list of values`);
      const values = filter.value.map((v) => bindValue(dialect, v));
      if (values.length === 0) {
        if (filter.op === 'in') qb.whereRaw('1 = 0');
        return;
      }
      if (filter.op === 'in') qb.whereIn(column, values as Knex.Value[]);
      else qb.whereNotIn(column, values as Knex.Value[]);
      return;
    }
    case '=':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
      if (value === null || value === undefined) {
        // SQL's `x = NULL` is never true; say what was meant instead of silently matching nothing.
        if (filter.op === '=') qb.whereNull(column);
        else if (filter.op === '!=') qb.whereNotNull(column);
        else qb.whereRaw('1 = 0');
        return;
      }
      qb.where(column, filter.op === '!=' ? '<>' : filter.op, value as Knex.Value);
      return;
    default:
      throw new ConnectorError(`filter on ${filter.column}: unknown operator '${String((filter as Filter).op)}'`);
  }
}

function parseOrder(entry: string): { column: string; order: 'asc' | 'desc' } {
  const m = /^\s*(.+?)(?:\s+(asc|desc))?\s*$/i.exec(entry);
  return { column: m?.[1] ?? entry, order: (m?.[2]?.toLowerCase() as 'asc' | 'desc' | undefined) ?? 'asc' };
}

/** What a query reads from, for error messages: the table name or 'query'. */
export function queryLabel(query: Pick<SourceQuery, 'table' | 'sql'>): string {
  return query.table ? `table ${query.table}` : 'query';
}

/**
 * A SELECT for the query: `select * from <table>` or `select * from (<sql>) src` (its `columns` instead of `*`
 * when given), then where/order/limit.
 * A bare `sql:` source with nothing to add is run as written (so its own ORDER BY survives on SQL Server).
 * `noRows` builds the same query returning no rows, to learn the column names.
 */
export function buildSelect(dialect: SqlDialect, query: SourceQuery, options: { noRows?: boolean } = {}): BuiltQuery {
  const k = builder(dialect);
  const sql = sqlFor(query, dialect);
  if (!query.table && sql === undefined) throw new ConnectorError('a query needs a table or sql');
  if (query.table && sql !== undefined) throw new ConnectorError(`a query has both table ${query.table} and sql; give one`);
  const where = query.where ?? [];
  const orderBy = query.orderBy ?? [];
  const columns = query.columns?.length ? query.columns.map((c) => foldIdentifier(dialect, c)) : '*';
  if (sql !== undefined && !options.noRows && where.length === 0 && orderBy.length === 0 && query.limit === undefined && columns === '*')
    return { sql: cleanSql(sql), bindings: [] };

  const qb = query.table
    ? k.select(columns).from(tableName(dialect, query.table))
    : k.select(columns).from(k.raw(`(${cleanSql(sql!)}) src`));
  for (const filter of where) applyFilter(dialect, qb, filter);
  if (options.noRows) qb.whereRaw('1 = 0');
  for (const entry of orderBy) {
    const { column, order } = parseOrder(entry);
    qb.orderBy(foldIdentifier(dialect, column), order);
  }
  if (query.limit !== undefined && !options.noRows) qb.limit(query.limit);
  const native = qb.toSQL().toNative();
  return { sql: native.sql, bindings: [...native.bindings] };
}
