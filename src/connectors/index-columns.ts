// What SourceAdapter.indexedColumns (and .tables) shares across dialects: a qualified name split and folded, and the
// catalogue rows grouped into one key-column list per index, so `fhir-bridge validate` can tell an integrator
// which index a child join needs before an export runs. Each server dialect's catalogue statement is its
// descriptor's `indexCatalogue` (src/connectors/dialects/*.ts).
import { ConnectorError } from '../errors.js';
import type { IndexCatalogueQuery } from './dialect-descriptor.js';
import { dialect } from './registry.js';
import type { Dialect } from './types.js';

/** A table name as `[schema.]table`, each part folded the way the dialect folds unquoted names. */
export function splitTableName(table: string, fold: (name: string) => string = (name) => name): { schema?: string; table: string } {
  const parts = table.split('.').map(fold);
  const name = parts.pop()!;
  return parts.length > 0 ? { schema: parts.join('.'), table: name } : { table: name };
}

/** Stands in for an index key that is an expression, so a column after it is never taken as leading. */
export const EXPRESSION_KEY = '(expression)';

/** The dialect's statement listing a table's index keys; in the current schema (search_path for PostgreSQL) unless qualified. */
export function indexColumnsQuery(name: Dialect, table: string): IndexCatalogueQuery {
  const catalogue = dialect(name).indexCatalogue;
  if (!catalogue) throw new ConnectorError(`the ${name} connector has no index catalogue to ask`);
  return catalogue(table);
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

/** The dialect's statement listing the tables of the current schema (a `table_name` per row). */
export function tableCatalogueQuery(name: Dialect): IndexCatalogueQuery {
  const catalogue = dialect(name).tableCatalogue;
  if (!catalogue) throw new ConnectorError(`the ${name} connector has no table catalogue to ask`);
  return catalogue;
}

/** Catalogue rows as sorted, lower-cased table names. */
export function catalogueTables(rows: Iterable<Record<string, unknown>>): string[] {
  return [...new Set([...rows].map((row) => String(row.table_name ?? row.TABLE_NAME).toLowerCase()))].sort();
}
