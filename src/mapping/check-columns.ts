// Does every column a mapping reads exist in its source? `fhir-bridge validate` prints the answer; opening a
// source for export or serve (pipeline/open-source.ts) refuses to go on without it, so a misspelt column is
// a located error before the first row, not elements silently missing from every resource.
import type { SourceAdapter, SourceQuery } from '../connectors/types.js';
import { formatLocation, type SourceLocation } from '../errors.js';
import { requiredColumns } from './index.js';
import { closest } from './suggest.js';
import { childChangesQuery, DELETED_QUERY } from './source.js';
import type { CompiledMapping } from './types.js';

export interface ColumnProblem {
  location: SourceLocation;
  mapping: string;
  message: string;
}

/** Every column a mapping reads that its query does not yield, located where the mapping names it. */
export async function checkColumns(adapter: SourceAdapter, mappings: CompiledMapping[]): Promise<ColumnProblem[]> {
  const problems: ColumnProblem[] = [];
  const columnCache = new Map<string, Promise<string[]>>();
  const columnsOf = (query: SourceQuery): Promise<string[]> => {
    const id = JSON.stringify({ table: query.table, sql: query.sql });
    let cols = columnCache.get(id);
    if (!cols) {
      cols = adapter.columns({ ...(query.table ? { table: query.table } : {}), ...(query.sql ? { sql: query.sql } : {}) });
      columnCache.set(id, cols);
    }
    return cols;
  };

  for (const mapping of mappings) {
    // A source that keeps no change times (files) has no last-updated or deletion columns: the mapping's
    // change tracking is ignored there (and `_since` refused), so it is not checked either.
    const tracking = adapter.changesUnknown ? trackingColumns(mapping) : undefined;
    const queries = requiredColumns(mapping).filter((q) => !tracking?.queries.has(q.name));
    const available = new Map<string, Set<string> | undefined>();
    for (const q of queries) {
      try {
        available.set(q.name, new Set((await columnsOf(q.query)).map((c) => c.toLowerCase())));
      } catch (err) {
        available.set(q.name, undefined);
        problems.push({
          location: mapping.location,
          mapping: mapping.name,
          message: `${describeQuery(q.name, q.query)}: ${(err as Error).message}`,
        });
      }
    }
    const seen = new Set<string>();
    const check = (queryName: string, column: string, location: SourceLocation): void => {
      const cols = available.get(queryName);
      const col = column.toLowerCase();
      if (tracking && (tracking.queries.has(queryName) || tracking.columns.has(`${queryName}\0${col}`))) return;
      const id = `${queryName}\0${col}\0${formatLocation(location)}`;
      if (!cols || cols.has(col) || seen.has(id)) return;
      seen.add(id);
      const query = queries.find((q) => q.name === queryName)!.query;
      const hint = closest(col, [...cols]);
      problems.push({
        location,
        mapping: mapping.name,
        message: `unknown column '${column}' in ${describeQuery(queryName, query)}${hint ? ` (did you mean '${hint}'?)` : ''}`,
      });
    };
    for (const q of queries) for (const use of q.columns) check(q.name, use.column, use.location);
    // Columns the engine itself reads (keys, joins, ordering) are checked too, at the mapping's location
    // unless a template use already located them.
    const src = mapping.source;
    for (const col of [
      ...src.key,
      ...(src.patient ? [src.patient] : []),
      ...(src.lastUpdated ? [src.lastUpdated] : []),
      ...(src.query.orderBy ?? []).map(orderColumn),
    ]) {
      if (!queries[0]!.columns.some((u) => u.column === col.toLowerCase())) check('source', col, mapping.location);
    }
    for (const child of mapping.children) {
      for (const on of child.on) {
        check(child.name, on.child, mapping.location);
        if (!queries[0]!.columns.some((u) => u.column === on.parent.toLowerCase())) check('source', on.parent, mapping.location);
      }
      for (const col of child.orderBy.map(orderColumn)) check(child.name, col, mapping.location);
      // changes found in another table are looked up by the child's own join columns
      if (child.lastUpdated?.table) for (const on of child.on) check(childChangesQuery(child.name), on.child, mapping.location);
    }
  }
  return problems;
}

/** The queries and (query, column) pairs a mapping reads only for change tracking. */
function trackingColumns(mapping: CompiledMapping): { queries: Set<string>; columns: Set<string> } {
  const queries = new Set<string>([DELETED_QUERY]);
  const columns = new Set<string>();
  const { lastUpdated, deleted } = mapping.source;
  if (lastUpdated) columns.add(`source\0${lastUpdated}`);
  if (deleted?.kind === 'column') columns.add(`source\0${deleted.column}`);
  for (const child of mapping.children) {
    queries.add(childChangesQuery(child.name));
    if (child.lastUpdated && !child.lastUpdated.table) columns.add(`${child.name}\0${child.lastUpdated.column}`);
  }
  return { queries, columns };
}

function orderColumn(entry: string): string {
  return entry.trim().replace(/\s+(asc|desc)$/i, '');
}

function describeQuery(name: string, query: SourceQuery): string {
  const what = query.table ? `table ${query.table}` : 'the sql query';
  return name === 'source' ? what : `${what} (child ${name})`;
}
