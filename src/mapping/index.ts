// Public entry of the mapping engine: load a set of mapping files, compile one from text (tests), list the
// columns each query of a mapping needs, run mapping tests.
import { resolve } from 'node:path';
import type { SourceQuery } from '../connectors/types.js';
import type { SourceLocation } from '../errors.js';
import { columnUses, compileFiles, type CompileOptions } from './set.js';
import { childChangesQuery, DELETED_QUERY } from './source.js';
export { closest } from './suggest.js';
import type { CompiledMapping, CompiledMappingSet } from './types.js';

export type { CompileOptions } from './set.js';
export { loadMappingSet, mappingFiles } from './load.js';
export {
  runMappingTests,
  formatMappingTestReport,
  type MappingTestReport,
  type MappingTestCaseResult,
  type MappingTestOptions,
} from './mapping-tests.js';
export type * from './types.js';

/** Compiles mapping text (one or more YAML documents) as if read from `file`; for tests and tools. */
export function compileMappingSource(text: string, file = 'mapping.yaml', options: CompileOptions = {}): CompiledMappingSet {
  return compileFiles([{ file: resolve(file), text }], options);
}

export interface QueryColumns {
  /** 'source' or the child name */
  name: string;
  query: SourceQuery;
  /** every column reference of the query, lower-cased, with where the mapping makes it */
  columns: Array<{ column: string; location: SourceLocation; element: string }>;
}

/** For each query of a mapping (its source, then each child) the columns it reads. FHIRPath expressions
 *  contribute their root identifiers (located at the expression). */
export function requiredColumns(mapping: CompiledMapping): QueryColumns[] {
  const uses = columnUses.get(mapping) ?? [];
  const queries: QueryColumns[] = [
    { name: 'source', query: mapping.source.query, columns: [] },
    ...mapping.children.map((c) => ({ name: c.name, query: c.query, columns: [] as QueryColumns['columns'] })),
  ];
  // where change tracking is read: the tombstone table and the tables children's changes are found in
  const { deleted } = mapping.source;
  if (deleted?.kind === 'tombstone') queries.push({ name: DELETED_QUERY, query: deleted.query, columns: [] });
  for (const c of mapping.children)
    if (c.lastUpdated?.table) queries.push({ name: childChangesQuery(c.name), query: { table: c.lastUpdated.table }, columns: [] });
  for (const u of uses) {
    const q = queries.find((x) => x.name === u.query);
    q?.columns.push({ column: u.column, location: u.location, element: u.element });
  }
  return queries;
}

export { compileFiles };
