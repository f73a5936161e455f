// Children are fetched with one `IN (...)` query per batch of parent rows on the first join column; without
// an index leading with that column every batch scans the child table and an export turns quadratic.
// `fhir-bridge validate` warns about it with the exact index to create.
import type { SourceAdapter } from '../../connectors/types.js';
import type { SourceLocation } from '../../errors.js';
import type { CompiledMapping } from '../../mapping/types.js';
import { DEFAULT_BATCH_SIZE } from '../../pipeline/run-export.js';

export interface IndexWarning {
  location: SourceLocation;
  mapping: string;
  message: string;
}

/**
 * One warning per child of a `table` query whose first join column leads no index. Sources that cannot
 * list indexes, `sql:` children and tables whose indexes cannot be read (a missing table is reported by
 * the column check) give none.
 */
export async function checkChildIndexes(adapter: SourceAdapter, mappings: CompiledMapping[]): Promise<IndexWarning[]> {
  if (!adapter.indexedColumns) return [];
  const indexCache = new Map<string, Promise<string[][] | undefined>>();
  const indexesOf = (table: string): Promise<string[][] | undefined> => {
    let lists = indexCache.get(table);
    if (!lists) {
      lists = adapter.indexedColumns!(table).catch(() => undefined);
      indexCache.set(table, lists);
    }
    return lists;
  };

  const warnings: IndexWarning[] = [];
  for (const mapping of mappings) {
    for (const child of mapping.children) {
      const table = child.query.table;
      const join = child.on[0]?.child.toLowerCase();
      if (!table || !join) continue;
      const indexes = await indexesOf(table);
      if (!indexes || indexes.some((columns) => columns[0] === join)) continue;
      warnings.push({
        location: mapping.location,
        mapping: mapping.name,
        message:
          `child "${child.name}" is fetched by ${table}.${join}, which has no index; each batch of ${DEFAULT_BATCH_SIZE} rows ` +
          `will scan the table. Create one: CREATE INDEX ${indexName(table, join)} ON ${table} (${join})`,
      });
    }
  }
  return warnings;
}

/** A name every dialect accepts (SQLite and MySQL need one; PostgreSQL puts it in the table's schema). */
function indexName(table: string, column: string): string {
  return `${table.split('.').pop()}_${column}_idx`.replace(/[^A-Za-z0-9_]/g, '_');
}
