// `where` filters evaluated in-process, for sources that cannot run SQL on a plain scan (CSV files).
// Semantics follow SQL: a comparison with NULL is never true; numbers compare as numbers when both sides
// are numeric, otherwise as text.
import { ConnectorError } from '../errors.js';
import type { Filter, Row, SourceQuery } from './types.js';

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

function comparable(v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

function compare(a: unknown, b: unknown): number | null {
  const x = comparable(a);
  const y = comparable(b);
  if (x === null || y === null) return null;
  const xn = typeof x === 'number' ? x : NUMERIC.test(x) ? Number(x) : NaN;
  const yn = typeof y === 'number' ? y : NUMERIC.test(y) ? Number(y) : NaN;
  if (!Number.isNaN(xn) && !Number.isNaN(yn)) return xn === yn ? 0 : xn < yn ? -1 : 1;
  const xs = String(x);
  const ys = String(y);
  return xs === ys ? 0 : xs < ys ? -1 : 1;
}

function holds(row: Row, filter: Filter): boolean {
  const value = row[filter.column.toLowerCase()];
  switch (filter.op) {
    case 'is null':
      return value === null || value === undefined;
    case 'is not null':
      return value !== null && value !== undefined;
    case 'in query':
      // only `_since` builds these, and sources read in-process keep no change times (it is refused there)
      throw new ConnectorError(`filter on ${filter.column}: a subquery cannot be evaluated on rows read from files`);
    case 'in':
    case 'not in': {
      if (value === null || value === undefined) return false;
      const list = Array.isArray(filter.value) ? filter.value : [filter.value];
      const found = list.some((v) => compare(value, v) === 0);
      return filter.op === 'in' ? found : !found;
    }
    default: {
      if (filter.value === null || filter.value === undefined) {
        if (filter.op === '=') return value === null || value === undefined;
        if (filter.op === '!=') return value !== null && value !== undefined;
        return false;
      }
      const c = compare(value, filter.value);
      if (c === null) return false;
      switch (filter.op) {
        case '=':
          return c === 0;
        case '!=':
          return c !== 0;
        case '<':
          return c < 0;
        case '<=':
          return c <= 0;
        case '>':
          return c > 0;
        case '>=':
          return c >= 0;
      }
      return false;
    }
  }
}

/** True when the row satisfies every filter (they are ANDed). */
export function matchesFilters(row: Row, filters: readonly Filter[] | undefined): boolean {
  if (!filters) return true;
  for (const f of filters) if (!holds(row, f)) return false;
  return true;
}

/** The rows that pass every filter, at most `limit` of them (sources whose SQL sees only text columns). */
export async function* filterRows(rows: AsyncIterable<Row>, where: SourceQuery['where'], limit: number | undefined): AsyncIterable<Row> {
  if (limit !== undefined && limit <= 0) return;
  let emitted = 0;
  for await (const row of rows) {
    if (!matchesFilters(row, where)) continue;
    yield row;
    if (limit !== undefined && ++emitted >= limit) return;
  }
}
