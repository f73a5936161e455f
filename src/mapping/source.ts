// The `source:`, `children:` and `search:` sections → SourceQuery / CompiledChild, column names lower-cased.
import type { Dialect, Filter, FilterOp, SourceQuery } from '../connectors/types.js';
import { DIALECT_NAMES } from '../connectors/registry.js';
import type { CompileContext } from './context.js';
import { isPlainObject } from './lookups.js';
import type { ChildLastUpdated, CompiledChild, CompiledDeleted } from './types.js';
import type { Path } from './parse.js';
import { CHILD_KEYS, CHILD_LAST_UPDATED_KEYS, DELETED_KEYS, SOURCE_KEYS, WHERE_OPS } from './vocabulary.js';

/** Query names (besides 'source' and the children's) whose columns `validate` and open-source check. */
export const DELETED_QUERY = '(deleted)';
export const childChangesQuery = (child: string): string => `(changes of ${child})`;

export interface CompiledSource {
  query: SourceQuery;
  label: string;
  key: string[];
  patient?: string;
  lastUpdated?: string;
  deleted?: CompiledDeleted;
}

/** Keys of a per-dialect `sql:` map: every registered dialect, and the fallback. */
const DIALECTS: ReadonlyArray<Dialect | 'default'> = ['default', ...DIALECT_NAMES];

export function checkKeys(ctx: CompileContext, obj: Record<string, unknown>, allowed: readonly string[], path: Path, what: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) ctx.error([...path, k], `unknown key "${k}" in ${what}: expected one of ${allowed.join(', ')}`, true);
  }
}

function columnName(ctx: CompileContext, v: unknown, path: Path, query: string, what: string): string | undefined {
  if (typeof v !== 'string' || v.trim() === '') {
    ctx.error(path, `${what}: expected a column name`);
    return undefined;
  }
  ctx.useColumn(query, v.trim().toLowerCase(), path);
  return v.trim().toLowerCase();
}

function tableOrSql(ctx: CompileContext, obj: Record<string, unknown>, path: Path, what: string): Pick<SourceQuery, 'table' | 'sql'> {
  const hasTable = obj.table !== undefined && obj.table !== null;
  const hasSql = obj.sql !== undefined && obj.sql !== null;
  if (hasTable === hasSql) {
    ctx.error(path, `${what} needs exactly one of "table" or "sql"`);
    return {};
  }
  if (hasTable) {
    if (typeof obj.table !== 'string' || obj.table.trim() === '') {
      ctx.error([...path, 'table'], 'expected a table name');
      return {};
    }
    return { table: obj.table.trim() };
  }
  if (typeof obj.sql === 'string') return { sql: obj.sql };
  if (isPlainObject(obj.sql)) {
    const sql: Partial<Record<Dialect | 'default', string>> = {};
    for (const [d, s] of Object.entries(obj.sql)) {
      if (!DIALECTS.includes(d as Dialect)) {
        ctx.error([...path, 'sql', d], `unknown dialect "${d}": expected one of ${DIALECTS.join(', ')}`, true);
      } else if (typeof s !== 'string') {
        ctx.error([...path, 'sql', d], 'expected a SELECT statement');
      } else sql[d as Dialect] = s;
    }
    return { sql };
  }
  ctx.error([...path, 'sql'], 'expected a SELECT statement, or { default: ..., postgres: ..., ... } per dialect');
  return {};
}

function compileWhere(ctx: CompileContext, v: unknown, path: Path, query: string): Filter[] | undefined {
  if (v === undefined || v === null) return undefined;
  const out: Filter[] = [];
  if (isPlainObject(v)) {
    for (const [col, val] of Object.entries(v)) {
      const column = col.trim().toLowerCase();
      ctx.useColumn(query, column, [...path, col], true);
      if (val === null) out.push({ column, op: 'is null' });
      else if (Array.isArray(val)) out.push({ column, op: 'in', value: val });
      else if (typeof val === 'object') ctx.error([...path, col], 'expected a value, a list of values (IN) or null (IS NULL)');
      else out.push({ column, op: '=', value: val });
    }
    return out;
  }
  if (Array.isArray(v)) {
    v.forEach((f, i) => {
      const p = [...path, i];
      if (!isPlainObject(f)) {
        ctx.error(p, 'expected { column, op, value }');
        return;
      }
      checkKeys(ctx, f, ['column', 'op', 'value'], p, 'a where condition');
      const column = columnName(ctx, f.column, [...p, 'column'], query, 'where');
      const op = (f.op ?? '=') as FilterOp;
      if (!WHERE_OPS.includes(op)) {
        ctx.error([...p, 'op'], `unknown operator ${JSON.stringify(f.op)}: expected one of ${WHERE_OPS.join(', ')}`);
        return;
      }
      const isNullTest = op === 'is null' || op === 'is not null';
      const isList = op === 'in' || op === 'not in';
      if (isNullTest && f.value !== undefined) ctx.error([...p, 'value'], `"${op}" takes no value`, true);
      else if (!isNullTest && f.value === undefined) ctx.error(p, `"${op}" needs a value`);
      else if (isList && !Array.isArray(f.value)) ctx.error([...p, 'value'], `"${op}" needs a list of values`);
      else if (!isList && !isNullTest && (typeof f.value === 'object' || f.value === null))
        ctx.error([...p, 'value'], 'expected a single value');
      else if (column) out.push(isNullTest ? { column, op } : { column, op, value: f.value });
    });
    return out;
  }
  ctx.error(path, 'expected { COLUMN: value } or a list of { column, op, value }');
  return undefined;
}

function keyList(ctx: CompileContext, v: unknown, path: Path): string[] {
  if (typeof v === 'string') return [columnName(ctx, v, path, 'source', 'key')].filter((c): c is string => !!c);
  if (Array.isArray(v) && v.length > 0) {
    return v.map((c, i) => columnName(ctx, c, [...path, i], 'source', 'key')).filter((c): c is string => !!c);
  }
  ctx.error(path, 'source.key: expected a column or a non-empty list of columns identifying a row');
  return [];
}

export function compileSource(ctx: CompileContext, v: unknown): CompiledSource {
  const path = ['source'];
  if (!isPlainObject(v)) {
    ctx.error(v === undefined ? [] : path, 'missing or invalid "source": expected { table or sql, key, patient?, lastUpdated?, where? }');
    return { query: {}, label: 'query', key: [] };
  }
  checkKeys(ctx, v, SOURCE_KEYS, path, 'source');
  const q = tableOrSql(ctx, v, path, 'source');
  let key: string[] = [];
  if (v.key === undefined) ctx.error(path, 'source needs "key": the column(s) identifying a row');
  else key = keyList(ctx, v.key, [...path, 'key']);
  const where = compileWhere(ctx, v.where, [...path, 'where'], 'source');
  const out: CompiledSource = { query: { ...q, ...(where ? { where } : {}) }, label: q.table ?? 'query', key };
  if (v.patient !== undefined && v.patient !== null) out.patient = columnName(ctx, v.patient, [...path, 'patient'], 'source', 'patient');
  if (v.lastUpdated !== undefined && v.lastUpdated !== null)
    out.lastUpdated = columnName(ctx, v.lastUpdated, [...path, 'lastUpdated'], 'source', 'lastUpdated');
  if (v.deleted !== undefined && v.deleted !== null) {
    const deleted = compileDeleted(ctx, v.deleted, key.length);
    if (deleted) out.deleted = deleted;
  }
  return out;
}

/**
 * `source.deleted`: `{ column }` (soft delete: a source column set when the row is deleted), or a tombstone
 * `{ table | sql, where?, key: [...], at, patient? }` whose `key` columns give the deleted row's source key,
 * in the order of `source.key`, so the deleted resource's id is the one it was exported with.
 */
function compileDeleted(ctx: CompileContext, v: unknown, keyLength: number): CompiledDeleted | undefined {
  const path = ['source', 'deleted'];
  const shape = '{ column } (soft delete) or { table or sql, key, at, where?, patient? } (tombstone)';
  if (!isPlainObject(v)) {
    ctx.error(path, `expected ${shape}`);
    return undefined;
  }
  checkKeys(ctx, v, DELETED_KEYS, path, 'source.deleted');
  if (v.column !== undefined) {
    for (const k of ['table', 'sql', 'key', 'at', 'patient', 'where'])
      if (v[k] !== undefined) ctx.error([...path, k], `"${k}" belongs to a tombstone table; a soft-delete "column" stands alone`, true);
    const column = columnName(ctx, v.column, [...path, 'column'], 'source', 'deleted.column');
    return column ? { kind: 'column', column } : undefined;
  }
  const q = tableOrSql(ctx, v, path, 'source.deleted');
  if (!q.table && !q.sql) return undefined;
  const where = compileWhere(ctx, v.where, [...path, 'where'], DELETED_QUERY);
  let key: string[] = [];
  if (!Array.isArray(v.key) && typeof v.key !== 'string')
    ctx.error(path, 'source.deleted needs "key": the tombstone columns holding the source key');
  else {
    const list = typeof v.key === 'string' ? [v.key] : v.key;
    key = list
      .map((c, i) => columnName(ctx, c, typeof v.key === 'string' ? [...path, 'key'] : [...path, 'key', i], DELETED_QUERY, 'deleted.key'))
      .filter((c): c is string => !!c);
    if (key.length !== list.length) return undefined;
    if (key.length !== keyLength)
      ctx.error(
        [...path, 'key'],
        `source.deleted.key names ${key.length} column(s); source.key has ${keyLength}: one per key column, in order`,
      );
  }
  if (v.at === undefined) ctx.error(path, 'source.deleted needs "at": the tombstone column holding when the row was deleted');
  const at = v.at === undefined ? undefined : columnName(ctx, v.at, [...path, 'at'], DELETED_QUERY, 'deleted.at');
  const patient = v.patient === undefined ? undefined : columnName(ctx, v.patient, [...path, 'patient'], DELETED_QUERY, 'deleted.patient');
  if (!at || key.length !== keyLength) return undefined;
  return { kind: 'tombstone', query: { ...q, ...(where ? { where } : {}) }, key, at, ...(patient ? { patient } : {}) };
}

/** A child's `lastUpdated`: a column of its own rows, or `{ table, column }` (a table with the child's `on` columns). */
function compileChildLastUpdated(ctx: CompileContext, v: unknown, path: Path, name: string): ChildLastUpdated | undefined {
  if (typeof v === 'string') {
    const column = columnName(ctx, v, path, name, 'lastUpdated');
    return column ? { column } : undefined;
  }
  if (!isPlainObject(v)) {
    ctx.error(path, 'expected a column of the child, or { table, column }: a table holding the child\'s "on" columns');
    return undefined;
  }
  checkKeys(ctx, v, CHILD_LAST_UPDATED_KEYS, path, `child "${name}" lastUpdated`);
  if (typeof v.table !== 'string' || v.table.trim() === '') {
    ctx.error(v.table === undefined ? path : [...path, 'table'], 'expected a table name');
    return undefined;
  }
  const column = columnName(
    ctx,
    v.column,
    v.column === undefined ? path : [...path, 'column'],
    childChangesQuery(name),
    'lastUpdated.column',
  );
  return column ? { column, table: v.table.trim() } : undefined;
}

export function compileChildren(ctx: CompileContext, v: unknown): CompiledChild[] {
  if (v === undefined || v === null) return [];
  const path = ['children'];
  if (!isPlainObject(v)) {
    ctx.error(path, 'expected a map of child name → { table or sql, on, where?, orderBy? }');
    return [];
  }
  const out: CompiledChild[] = [];
  for (const [name, def] of Object.entries(v)) {
    const p = [...path, name];
    ctx.childNames.add(name);
    if (!isPlainObject(def)) {
      ctx.error(p, `child "${name}": expected { table or sql, on, where?, orderBy? }`);
      continue;
    }
    checkKeys(ctx, def, CHILD_KEYS, p, `child "${name}"`);
    const q = tableOrSql(ctx, def, p, `child "${name}"`);
    const where = compileWhere(ctx, def.where, [...p, 'where'], name);
    const on: CompiledChild['on'] = [];
    if (!isPlainObject(def.on) || Object.keys(def.on).length === 0) {
      ctx.error(def.on === undefined ? p : [...p, 'on'], `child "${name}" needs "on": { CHILD_COLUMN: PARENT_COLUMN, ... }`);
    } else {
      for (const [c, pc] of Object.entries(def.on)) {
        const child = c.trim().toLowerCase();
        ctx.useColumn(name, child, [...p, 'on', c], true);
        const parent = columnName(ctx, pc, [...p, 'on', c], 'source', `on.${c}`);
        if (parent) on.push({ child, parent });
      }
    }
    let orderBy: string[] = [];
    if (def.orderBy !== undefined && def.orderBy !== null) {
      const list = typeof def.orderBy === 'string' ? [def.orderBy] : def.orderBy;
      if (!Array.isArray(list)) ctx.error([...p, 'orderBy'], 'expected a column or a list of columns');
      else
        orderBy = list
          .map((c, i) => columnName(ctx, c, typeof def.orderBy === 'string' ? [...p, 'orderBy'] : [...p, 'orderBy', i], name, 'orderBy'))
          .filter((c): c is string => !!c);
    }
    const lastUpdated =
      def.lastUpdated === undefined || def.lastUpdated === null
        ? undefined
        : compileChildLastUpdated(ctx, def.lastUpdated, [...p, 'lastUpdated'], name);
    out.push({ name, query: { ...q, ...(where ? { where } : {}) }, on, orderBy, ...(lastUpdated ? { lastUpdated } : {}) });
  }
  return out;
}

export function compileSearch(ctx: CompileContext, v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (!isPlainObject(v)) {
    ctx.error(['search'], 'expected a map of FHIR search parameter → column');
    return out;
  }
  for (const [param, col] of Object.entries(v)) {
    const c = columnName(ctx, col, ['search', param], 'source', `search.${param}`);
    if (c) out[param] = c;
  }
  return out;
}
