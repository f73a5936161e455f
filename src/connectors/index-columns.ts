// The catalogue queries behind SourceAdapter.indexedColumns: which column lists a table's indexes cover,
// so `fhir-bridge validate` can tell an integrator which index a child join needs before an export runs.
// Each server dialect gets one statement returning (index_name, column_name) rows in key order.
import type { SqlDialect } from './sql-builder.js';
import { foldIdentifier } from './sql-builder.js';

/** A table name as `[schema.]table`, each part folded the way the dialect folds unquoted names. */
export function splitTableName(dialect: SqlDialect, table: string): { schema?: string; table: string } {
  const parts = table.split('.').map((p) => foldIdentifier(dialect, p));
  const name = parts.pop()!;
  return parts.length > 0 ? { schema: parts.join('.'), table: name } : { table: name };
}

/** Stands in for an index key that is an expression, so a column after it is never taken as leading. */
export const EXPRESSION_KEY = '(expression)';

export interface IndexColumnsQuery {
  sql: string;
  bindings: unknown[];
}

/** The statement listing a table's index keys; in the current schema (search_path for PostgreSQL) unless qualified. */
export function indexColumnsQuery(dialect: Exclude<SqlDialect, 'sqlite'>, table: string): IndexColumnsQuery {
  switch (dialect) {
    case 'postgres':
      // to_regclass resolves the name through the session's search_path, as the adapter's queries do;
      // attnum 0 is an expression key.
      return {
        sql:
          `select i.indexrelid::text as index_name, a.attname as column_name ` +
          `from pg_index i cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord) ` +
          `left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum ` +
          `where i.indrelid = to_regclass($1) order by i.indexrelid, k.ord`,
        bindings: [table.toLowerCase()],
      };
    case 'mysql': {
      const { schema, table: name } = splitTableName('mysql', table);
      return {
        sql:
          `select index_name as index_name, column_name as column_name from information_schema.statistics ` +
          `where table_schema = coalesce(?, database()) and table_name = ? order by index_name, seq_in_index`,
        bindings: [schema ?? null, name],
      };
    }
    case 'mssql':
      // key_ordinal 0 marks INCLUDE columns, which cannot serve a seek
      return {
        sql:
          `select i.name as index_name, c.name as column_name from sys.indexes i ` +
          `join sys.index_columns ic on ic.object_id = i.object_id and ic.index_id = i.index_id ` +
          `join sys.columns c on c.object_id = ic.object_id and c.column_id = ic.column_id ` +
          `where i.object_id = object_id(@p0) and ic.key_ordinal > 0 order by i.index_id, ic.key_ordinal`,
        bindings: [table],
      };
    case 'oracle': {
      const { schema, table: name } = splitTableName('oracle', table);
      return {
        sql:
          `select index_name as "index_name", column_name as "column_name" from all_ind_columns ` +
          `where table_owner = coalesce(:1, sys_context('USERENV', 'CURRENT_SCHEMA')) and table_name = :2 ` +
          `order by index_name, column_position`,
        bindings: [schema ?? null, name],
      };
    }
  }
}

/** Catalogue rows (already in key order within each index) as lower-cased column lists, one per index. */
export function groupIndexColumns(rows: Iterable<Record<string, unknown>>): string[][] {
  const byIndex = new Map<string, string[]>();
  for (const row of rows) {
    const index = String(row.index_name ?? row.INDEX_NAME);
    const column = row.column_name ?? row.COLUMN_NAME;
    const list = byIndex.get(index) ?? [];
    list.push(column === null || column === undefined ? EXPRESSION_KEY : String(column).toLowerCase());
    byIndex.set(index, list);
  }
  return [...byIndex.values()];
}
