// Which source tables a mapping's query reads, and which of their columns, without a database: a `table:`
// source reads that table; a `sql:` source is scanned for the tables after FROM/JOIN (with their aliases),
// the `alias.COLUMN` references, the bare words, `[alias.]*` and `alias.COLUMN AS name` renames. It is a
// reading of the text, not a SQL parser: good enough to say which columns a mapping set leaves behind
// (`fhir-bridge coverage`) and which table an export's rows came from, never used to build a query.
import { sqlFor } from '../connectors/sql-builder.js';
import type { Dialect, SourceQuery } from '../connectors/types.js';

export interface SqlReading {
  /** table names (lower-cased) after FROM / JOIN, in order of appearance */
  tables: string[];
  /** the table of the FROM at parenthesis depth 0: where the query's rows come from */
  driving?: string;
  /** alias (lower-cased) → table; a table is its own alias too */
  aliases: Map<string, string>;
  /** `alias.column` references, resolved to their table */
  qualified: Array<{ table: string; column: string }>;
  /** every identifier-like word of the text, lower-cased (unqualified column references among them) */
  words: Set<string>;
  /** tables whose every column the query passes through (`t.*`), or '*' for a bare `SELECT *` */
  stars: string[];
  /** output column (lower-cased) → the table column it renames (`e.PROVIDER AS requester`, `MIN(s.DATE) AS study_date`) */
  renames: Map<string, { table: string; column: string }>;
}

const KEYWORDS = new Set([
  'select',
  'from',
  'where',
  'join',
  'left',
  'right',
  'inner',
  'outer',
  'full',
  'cross',
  'on',
  'and',
  'or',
  'not',
  'as',
  'group',
  'by',
  'order',
  'having',
  'union',
  'all',
  'distinct',
  'case',
  'when',
  'then',
  'else',
  'end',
  'is',
  'null',
  'in',
  'exists',
  'lateral',
  'using',
  'limit',
  'offset',
  'with',
  'natural',
]);

/** The SQL text a query runs on this dialect (its variant, the dialect's fallbacks, `default`), or every
 *  variant when no dialect is given. */
export function sqlTexts(query: Pick<SourceQuery, 'sql'>, dialect?: Dialect): string[] {
  const sql = query.sql;
  if (sql === undefined) return [];
  if (typeof sql === 'string') return [sql];
  if (dialect) {
    const text = sqlFor(query, dialect);
    return text === undefined ? [] : [text];
  }
  return Object.values(sql).filter((s): s is string => typeof s === 'string');
}

/** Reads one SELECT statement's text (see the file comment for what it finds). */
export function readSql(text: string): SqlReading {
  const clean = text
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''");
  const tables: string[] = [];
  const aliases = new Map<string, string>();
  let driving: string | undefined;
  const unquote = (s: string): string => s.replace(/["`[\]]/g, '').toLowerCase();
  const ident = String.raw`[\w"\`\[\]]+(?:\.[\w"\`\[\]]+)?`;
  const fromJoin = new RegExp(String.raw`\b(from|join)\s+(${ident})(?:\s+(?:as\s+)?([A-Za-z_]\w*))?`, 'gi');
  for (const m of clean.matchAll(fromJoin)) {
    const qualified = unquote(m[2]!);
    const table = qualified.split('.').pop()!;
    if (table === '' || KEYWORDS.has(table)) continue;
    tables.push(table);
    aliases.set(table, table);
    aliases.set(qualified, table);
    const alias = m[3]?.toLowerCase();
    if (alias && !KEYWORDS.has(alias)) aliases.set(alias, table);
    if (driving === undefined && m[1]!.toLowerCase() === 'from' && depthAt(clean, m.index!) === 0) driving = table;
  }
  // A derived table `( SELECT … FROM t … ) x` stands for the table its own rows come from.
  for (const m of clean.matchAll(/\)\s*(?:as\s+)?([A-Za-z_]\w*)/gi)) {
    const alias = m[1]!.toLowerCase();
    if (KEYWORDS.has(alias) || aliases.has(alias)) continue;
    const open = openingParen(clean, m.index!);
    if (open < 0) continue;
    const inner = clean.slice(open + 1, m.index!);
    if (!/^\s*select\b/i.test(inner)) continue;
    const from = readSql(inner).driving;
    if (from === undefined) continue;
    aliases.set(alias, from);
    if (driving === undefined && depthAt(clean, open) === 0 && /\bfrom\s*$/i.test(clean.slice(0, open))) driving = from;
  }
  const qualified: SqlReading['qualified'] = [];
  const stars: string[] = [];
  const renames = new Map<string, { table: string; column: string }>();
  for (const m of clean.matchAll(/\b([A-Za-z_]\w*)\s*\.\s*(\*|[A-Za-z_]\w*|"[^"]+")(?:\s*\)*\s+as\s+([A-Za-z_]\w*))?/gi)) {
    const table = aliases.get(m[1]!.toLowerCase());
    if (!table) continue;
    if (m[2] === '*') stars.push(table);
    else {
      const column = unquote(m[2]!);
      qualified.push({ table, column });
      if (m[3]) renames.set(m[3].toLowerCase(), { table, column });
    }
  }
  if (/\bselect\s+(distinct\s+)?\*/i.test(clean)) stars.push('*');
  const words = new Set<string>();
  // qualified references are resolved above; only the bare words are left to match any table's columns
  for (const m of clean.replace(/\b[A-Za-z_]\w*\s*\.\s*(\*|[A-Za-z_]\w*|"[^"]+")/g, ' ').matchAll(/[A-Za-z_]\w*/g)) {
    const w = m[0].toLowerCase();
    if (!KEYWORDS.has(w)) words.add(w);
  }
  return { tables: [...new Set(tables)], ...(driving ? { driving } : {}), aliases, qualified, words, stars, renames };
}

/** Index of the '(' that the ')' at `close` ends, or -1. */
function openingParen(text: string, close: number): number {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    if (text[i] === ')') depth++;
    else if (text[i] === '(' && --depth === 0) return i;
  }
  return -1;
}

function depthAt(text: string, index: number): number {
  let depth = 0;
  for (let i = 0; i < index; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
  }
  return depth;
}

/** The table whose rows a query yields (lower-cased): its `table:`, else its SQL's outer FROM; undefined when neither tells. */
export function drivingTable(query: Pick<SourceQuery, 'table' | 'sql'>, dialect?: Dialect): string | undefined {
  if (query.table) return query.table.toLowerCase().split('.').pop();
  const text = sqlTexts(query, dialect)[0];
  return text === undefined ? undefined : readSql(text).driving;
}
