// How much of a source a mapping set uses: for every table the source offers, the mappings that read it, and
// for every column the mapping elements that use it, the reason the connector gives for leaving it out
// (`ignore:`), or nothing ("unused"). `fhir-bridge coverage` prints it; a set is complete when nothing is
// unused. Columns read by a mapping's `sql:` are found by reading its text (mapping/source-tables.ts).
import type { IgnoredTable, SourceAdapter } from '../connectors/types.js';
import { formatLocation, type SourceLocation } from '../errors.js';
import { requiredColumns } from '../mapping/index.js';
import { readSql, sqlTexts, type SqlReading } from '../mapping/source-tables.js';
import type { CompiledMapping, CompiledMappingSet } from '../mapping/types.js';

export interface ColumnUseReport {
  mapping: string;
  /** the element a template fills ('Patient.birthDate'), 'source.key' and such, or 'sql' for a column only the query reads */
  element: string;
  location?: SourceLocation;
}

export interface ColumnCoverage {
  column: string;
  status: 'mapped' | 'ignored' | 'unused';
  uses: ColumnUseReport[];
  /** the connector's reason, when it ignores the column (or its whole table) */
  reason?: string;
}

export interface TableCoverage {
  table: string;
  /** mappings reading the table (as their source, a child or inside their SQL) */
  mappings: string[];
  /** the connector's reason, when it ignores the whole table */
  ignored?: string;
  columns: ColumnCoverage[];
}

export interface SourceCoverage {
  tables: TableCoverage[];
  /** columns neither used nor ignored, as `table.column` */
  unused: string[];
  /** `ignore:` entries that name no table or column of the source (stale after a source change) */
  staleIgnores: string[];
  /** tables a mapping names that the source's catalogue does not list (their columns are still reported) */
  notListed: string[];
  /** columns `ignore:` names one by one although a mapping uses them (the reason no longer holds) */
  ignoredButMapped: string[];
}

interface Use extends ColumnUseReport {
  table: string;
  column: string;
}

/**
 * The coverage of the source behind `adapter` by `set`. Tables come from the adapter's catalogue (tableNames())
 * plus those the mappings and `ignore:` name; columns from adapter.columns() of each table.
 */
export async function sourceCoverage(
  adapter: SourceAdapter,
  set: CompiledMappingSet,
  ignore: Record<string, IgnoredTable> = {},
): Promise<SourceCoverage> {
  const listed = adapter.tableNames ? await adapter.tableNames() : undefined;
  const columnsOf = new Map<string, Promise<string[] | undefined>>();
  const columns = (table: string): Promise<string[] | undefined> => {
    let cols = columnsOf.get(table);
    if (!cols) {
      cols = adapter.columns({ table }).then(
        (c) => c.map((x) => x.toLowerCase()),
        () => undefined,
      );
      columnsOf.set(table, cols);
    }
    return cols;
  };

  const uses: Use[] = [];
  const readers = new Map<string, Set<string>>();
  for (const mapping of set.mappings) {
    for (const use of await mappingUses(mapping, adapter, columns)) {
      uses.push(use);
      if (!readers.has(use.table)) readers.set(use.table, new Set());
      readers.get(use.table)!.add(mapping.name);
    }
    for (const table of tablesRead(mapping, adapter)) {
      if (!readers.has(table)) readers.set(table, new Set());
      readers.get(table)!.add(mapping.name);
    }
  }

  const ignored = new Map(Object.entries(ignore).map(([t, v]) => [t.toLowerCase(), v]));
  const names = new Set(listed ?? []);
  const notListed: string[] = [];
  for (const t of readers.keys()) {
    if (listed && !names.has(t) && (await columns(t)) !== undefined) notListed.push(t);
    if (!listed || (await columns(t)) !== undefined) names.add(t);
  }
  const staleIgnores: string[] = [];
  const ignoredButMapped: string[] = [];
  const tables: TableCoverage[] = [];
  for (const table of [...names].sort()) {
    const cols = (await columns(table)) ?? [];
    const ig = ignored.get(table);
    const tableReason = typeof ig === 'string' ? ig : undefined;
    const columnReasons = new Map(
      typeof ig === 'object' ? Object.entries(ig.columns).map(([c, r]) => [c.toLowerCase(), r || ig.reason || '']) : [],
    );
    for (const c of columnReasons.keys()) if (!cols.includes(c)) staleIgnores.push(`${table}.${c}`);
    const report: TableCoverage = {
      table,
      mappings: [...(readers.get(table) ?? [])].sort(),
      ...(tableReason !== undefined ? { ignored: tableReason } : {}),
      columns: cols.map((column) => {
        const used = dedupe(uses.filter((u) => u.table === table && u.column === column));
        const reason = columnReasons.get(column) ?? tableReason;
        if (used.length > 0) {
          if (columnReasons.has(column)) ignoredButMapped.push(`${table}.${column}`);
          return { column, status: 'mapped', uses: used };
        }
        if (reason !== undefined) return { column, status: 'ignored', uses: [], reason };
        return { column, status: 'unused', uses: [] };
      }),
    };
    tables.push(report);
  }
  for (const t of ignored.keys()) if (!names.has(t)) staleIgnores.push(t);
  const unused = tables.flatMap((t) => t.columns.filter((c) => c.status === 'unused').map((c) => `${t.table}.${c.column}`));
  return { tables, unused, staleIgnores, notListed, ignoredButMapped };
}

function dedupe(uses: Use[]): ColumnUseReport[] {
  const seen = new Set<string>();
  const out: ColumnUseReport[] = [];
  for (const u of uses) {
    const id = `${u.mapping}\0${u.element}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ mapping: u.mapping, element: u.element, ...(u.location ? { location: u.location } : {}) });
  }
  return out.sort((a, b) => a.mapping.localeCompare(b.mapping) || a.element.localeCompare(b.element));
}

/** Tables a mapping's queries name (its source and children), lower-cased. */
function tablesRead(mapping: CompiledMapping, adapter: SourceAdapter): string[] {
  const out: string[] = [];
  for (const query of [mapping.source.query, ...mapping.children.map((c) => c.query)]) {
    if (query.table) out.push(bareTable(query.table));
    for (const text of sqlTexts(query, adapter.dialect)) out.push(...readSql(text).tables);
  }
  return out;
}

/**
 * Every (table, column) a mapping reads, with the element that reads it. A template's column of a `table:`
 * query is that table's; of a `sql:` query, the column it renames (`e.PROVIDER AS requester`), else the
 * same-named column of a table the query passes whole (`m.*`, `SELECT *`) or names (`p.Id`). Columns the SQL
 * itself reads (joins, conditions, aggregates) are used by the mapping's 'sql'.
 */
async function mappingUses(
  mapping: CompiledMapping,
  adapter: SourceAdapter,
  columns: (table: string) => Promise<string[] | undefined>,
): Promise<Use[]> {
  const out: Use[] = [];
  for (const q of requiredColumns(mapping)) {
    if (q.query.table) {
      const table = bareTable(q.query.table);
      for (const c of q.columns) out.push({ table, column: c.column, mapping: mapping.name, element: c.element, location: c.location });
      continue;
    }
    for (const text of sqlTexts(q.query, adapter.dialect)) {
      const sql = readSql(text);
      const sqlUses = await columnsInSql(sql, columns);
      for (const u of sqlUses) out.push({ ...u, mapping: mapping.name, element: 'sql', location: mapping.location });
      for (const c of q.columns) {
        for (const target of await sourcesOf(c.column, sql, columns))
          out.push({ ...target, mapping: mapping.name, element: c.element, location: c.location });
      }
    }
  }
  return out;
}

async function columnsInSql(
  sql: SqlReading,
  columns: (table: string) => Promise<string[] | undefined>,
): Promise<Array<{ table: string; column: string }>> {
  const out = [...sql.qualified];
  for (const table of sql.tables) {
    for (const column of (await columns(table)) ?? []) if (sql.words.has(column)) out.push({ table, column });
  }
  return out;
}

/** The table columns a query's output column comes from. */
async function sourcesOf(
  column: string,
  sql: SqlReading,
  columns: (table: string) => Promise<string[] | undefined>,
): Promise<Array<{ table: string; column: string }>> {
  const renamed = sql.renames.get(column);
  if (renamed) return [renamed];
  const out: Array<{ table: string; column: string }> = [];
  const whole = sql.stars.includes('*') ? sql.tables : sql.stars;
  for (const table of new Set(whole)) if ((await columns(table))?.includes(column)) out.push({ table, column });
  if (out.length === 0) for (const q of sql.qualified) if (q.column === column) out.push(q);
  return out;
}

function bareTable(table: string): string {
  return table.toLowerCase().split('.').pop()!;
}

/** `table.column  element (mapping, file:line:col)` lines, for logs and messages. */
export function describeUse(use: ColumnUseReport): string {
  return `${use.element} (${use.mapping}${use.location ? `, ${formatLocation(use.location)}` : ''})`;
}
