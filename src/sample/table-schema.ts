// A load-csv table schema file (e.g. connectors/tables/omop-cdm54.yaml): which CSV files of a folder become
// which tables, with what column types, primary key and indexes. Read with positions so a mistake is a
// ConfigError at file:line:col, like connector files.
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap } from 'yaml';
import { ConfigError } from '../errors.js';

/**
 * int / bigint: whole numbers; num: decimals (NUMERIC wide enough for the data, found by reading it);
 * str: text up to 255 characters; text: longer text; date: YYYY-MM-DD;
 * ts: a timestamp, stored as written when it has no offset, as UTC wall-clock time when it has one.
 */
export const TABLE_COLUMN_KINDS = ['int', 'bigint', 'num', 'str', 'text', 'date', 'ts'] as const;
export type TableColumnKind = (typeof TABLE_COLUMN_KINDS)[number];

export interface CsvTableSpec {
  /** table name, lower case (what mappings and SQL name) */
  name: string;
  /** file in the folder when it is not `<name>.csv` (any case, .gz allowed) */
  file?: string;
  columns: Array<{ name: string; kind: TableColumnKind }>;
  primaryKey?: string[];
  indexes: string[][];
}

export interface TableSchema {
  file: string;
  description?: string;
  /** in the order written: tables are created and loaded in it */
  tables: CsvTableSpec[];
}

const TABLE_KEYS = ['file', 'columns', 'primaryKey', 'indexes'];

export async function readTableSchema(file: string): Promise<TableSchema> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read table schema ${file}: ${(err as Error).message}`);
  }
  return parseTableSchema(text, file);
}

export function parseTableSchema(text: string, file: string): TableSchema {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const fail = (message: string, node?: Node | null): never => {
    const { line, col } = lineCounter.linePos(node?.range?.[0] ?? 0);
    throw new ConfigError(message, { file, line, column: col });
  };
  if (doc.errors.length > 0) {
    const { line, col } = lineCounter.linePos(doc.errors[0]!.pos[0]);
    throw new ConfigError(`invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, { file, line, column: col });
  }
  const root = doc.contents;
  if (!isMap(root))
    return fail('a table schema holds { tables: { <table>: { columns, primaryKey?, indexes?, file? } }, description? }', root);
  let description: string | undefined;
  let tablesNode: YAMLMap | undefined;
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (key === 'description') description = String((pair.value as { value?: unknown } | null)?.value ?? '');
    else if (key === 'tables') {
      if (!isMap(pair.value)) fail('tables: expected a map of table name → { columns, primaryKey?, indexes?, file? }', pair.value as Node);
      tablesNode = pair.value as YAMLMap;
    } else fail(`unknown key "${key}" (expected tables, description)`, pair.key as Node);
  }
  if (!tablesNode || tablesNode.items.length === 0) return fail('no tables: the schema needs `tables:` with at least one table', root);

  const tables: CsvTableSpec[] = [];
  const names = new Set<string>();
  for (const pair of tablesNode.items) {
    const name = String((pair.key as { value?: unknown }).value).toLowerCase();
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) fail(`table name "${name}": letters, digits and _ only`, pair.key as Node);
    if (names.has(name)) fail(`table "${name}" is listed twice`, pair.key as Node);
    names.add(name);
    const body = pair.value;
    if (!isMap(body)) return fail(`table ${name}: expected { columns, primaryKey?, indexes?, file? }`, (body ?? pair.key) as Node);
    const spec: CsvTableSpec = { name, columns: [], indexes: [] };
    const columnNames = new Set<string>();
    const checkColumns = (node: Node, what: string): string[] => {
      if (!isSeq(node) || node.items.length === 0 || !node.items.every(isScalar))
        return fail(`table ${name}: ${what} must be a list of column names`, node);
      return node.items.map((item) => {
        const column = String((item as { value: unknown }).value).toLowerCase();
        if (!columnNames.has(column)) fail(`table ${name}: ${what} names "${column}", which is not one of its columns`, item as Node);
        return column;
      });
    };
    // columns first: primaryKey and indexes are checked against them whatever order the keys are written in
    const byKey = new Map(body.items.map((p) => [isScalar(p.key) ? String(p.key.value) : '', p]));
    for (const p of body.items) {
      const key = isScalar(p.key) ? String(p.key.value) : '';
      if (!TABLE_KEYS.includes(key)) fail(`table ${name}: unknown key "${key}" (expected ${TABLE_KEYS.join(', ')})`, p.key as Node);
    }
    const columns = byKey.get('columns')?.value;
    if (!isMap(columns) || columns.items.length === 0)
      return fail(
        `table ${name}: columns must be a map of column name → kind (${TABLE_COLUMN_KINDS.join(', ')})`,
        (columns ?? body) as Node,
      );
    for (const c of columns.items) {
      const column = String((c.key as { value?: unknown }).value).toLowerCase();
      const kind = isScalar(c.value) ? String(c.value.value) : '';
      if (!(TABLE_COLUMN_KINDS as readonly string[]).includes(kind))
        fail(`table ${name}, column ${column}: kind "${kind}" is not one of ${TABLE_COLUMN_KINDS.join(', ')}`, (c.value ?? c.key) as Node);
      if (columnNames.has(column)) fail(`table ${name}: column "${column}" is listed twice`, c.key as Node);
      columnNames.add(column);
      spec.columns.push({ name: column, kind: kind as TableColumnKind });
    }
    const primaryKey = byKey.get('primaryKey')?.value as Node | undefined;
    if (primaryKey) spec.primaryKey = checkColumns(primaryKey, 'primaryKey');
    const indexes = byKey.get('indexes')?.value as Node | undefined;
    if (indexes) {
      if (!isSeq(indexes))
        fail(`table ${name}: indexes must be a list of column lists, e.g. [[person_id], [visit_occurrence_id]]`, indexes);
      for (const index of (indexes as { items: Node[] }).items) spec.indexes.push(checkColumns(index, 'an index'));
    }
    const fileNode = byKey.get('file')?.value;
    if (fileNode) {
      if (!isScalar(fileNode)) fail(`table ${name}: file must be a file name`, fileNode as Node);
      spec.file = String((fileNode as { value: unknown }).value);
    }
    tables.push(spec);
  }
  return { file, description, tables };
}
