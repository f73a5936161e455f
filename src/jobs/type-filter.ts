// Turns `_typeFilter` queries (IG 2.0.0, export.html#_typefilter-experimental-query-parameter) into
// source filters through each mapping's `search:` table (search parameter → column), so they become a
// SQL WHERE. The supported subset, per query `Type?p1=v1&p2=v2` (parameters ANDed, queries ORed):
//
//   p=v              column = v                  p=v1,v2        column IN (v1, v2)
//   p=gt|lt|ge|le|eq|ne<v>  (v starting with a digit: dates, numbers) the comparison
//   p=system|code    column = code (the system is not checked: the column holds the code)
//   p=Type/id        column = the source key of Type/id (keyForId of the mapping that makes Type)
//   p:missing=true   column IS NULL              p:missing=false  column IS NOT NULL
//   p:not=v          column != v                 p:exact=v      column = v
//
// Values are compared with the raw column, so a mapping should list only search parameters whose
// column holds the FHIR value itself (codes, dates, ids). String search is an exact match, not the
// FHIR "starts with". Anything else (other modifiers, sa/eb/ap prefixes, comma lists of comparisons, a
// parameter a mapping does not list, mappings disagreeing on the column) is unsupported: a 400, or
// ignored and reported under `Prefer: handling=lenient`. It sits in the job layer because both sides use
// it: the kick-off (src/http/kickoff/resolve.ts) to check the queries, the executor to filter with them.
import type { Filter, FilterOp } from '../connectors/types.js';
import type { CompiledMapping } from '../mapping/types.js';
import { FHIR_ID_PATTERN } from '../fhir/id.js';

const PREFIX_OPS: Record<string, FilterOp> = { eq: '=', ne: '!=', gt: '>', lt: '<', ge: '>=', le: '<=' };

export class UnsupportedFilter extends Error {}

const REFERENCE_RE = new RegExp(`^([A-Z][A-Za-z]+)/(${FHIR_ID_PATTERN})$`);

/** Where an unsupported query is reported: the kick-off's ParameterProblems (400, or ignored when lenient). */
export interface FilterProblems {
  unsupported(param: string, message: string): void;
}

/**
 * Translates the queries; unsupported ones are reported through `problems` (and dropped when lenient).
 * `types` are the resource types the export runs: a query for another type is unsupported.
 * Returns the accepted queries and the filters per resourceType.
 */
export function translateTypeFilters(
  queries: string[],
  mappings: readonly CompiledMapping[],
  types: readonly string[],
  problems: FilterProblems,
): { accepted: string[]; filters: Record<string, Filter[][]> } {
  const filters: Record<string, Filter[][]> = {};
  const accepted: string[] = [];
  for (const query of queries) {
    try {
      const { type, filters: and } = translateQuery(query, mappings, types);
      filters[type] ??= [];
      filters[type].push(and);
      accepted.push(query);
    } catch (e) {
      if (!(e instanceof UnsupportedFilter)) throw e;
      problems.unsupported('_typeFilter', `"${query}": ${e.message}`);
    }
  }
  return { accepted, filters };
}

export function translateQuery(
  query: string,
  mappings: readonly CompiledMapping[],
  types: readonly string[],
): { type: string; filters: Filter[] } {
  const q = query.indexOf('?');
  const type = query.slice(0, q);
  if (!types.includes(type)) throw new UnsupportedFilter(`${type} is not among the exported types (${types.join(', ') || 'none'})`);
  const makers = mappings.filter((m) => m.resourceTypes.includes(type));
  if (makers.length === 0) throw new UnsupportedFilter(`no mapping produces ${type}`);
  const and: Filter[] = [];
  for (const [rawName, value] of new URLSearchParams(query.slice(q + 1))) {
    const [name, modifier] = rawName.split(':') as [string, string | undefined];
    const column = columnFor(type, name, makers);
    and.push(filterFor(column, name, modifier, value, mappings));
  }
  return { type, filters: and };
}

function columnFor(type: string, name: string, makers: readonly CompiledMapping[]): string {
  const columns = new Set<string | undefined>(makers.map((m) => m.search[name]));
  if (columns.has(undefined)) {
    const supported = [...new Set(makers.flatMap((m) => Object.keys(m.search)))].sort();
    throw new UnsupportedFilter(
      `search parameter "${name}" cannot be pushed down for ${type} (mapping ${makers
        .filter((m) => !m.search[name])
        .map((m) => m.name)
        .join(', ')} lists ${supported.length ? supported.join(', ') : 'no search parameters'})`,
    );
  }
  if (columns.size > 1) throw new UnsupportedFilter(`mappings producing ${type} use different columns for "${name}"`);
  return [...columns][0]!.toLowerCase();
}

function filterFor(
  column: string,
  name: string,
  modifier: string | undefined,
  value: string,
  mappings: readonly CompiledMapping[],
): Filter {
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw new UnsupportedFilter(`${name}:missing takes true or false`);
    return { column, op: value === 'true' ? 'is null' : 'is not null' };
  }
  if (modifier !== undefined && modifier !== 'not' && modifier !== 'exact') {
    throw new UnsupportedFilter(`modifier :${modifier} is not supported (supported: :missing, :not, :exact)`);
  }
  const parts = value.split(',').map((v) => v.trim());
  if (parts.some((p) => p === '')) throw new UnsupportedFilter(`empty value in ${name}=${value}`);
  const parsed = parts.map((p) => parseValue(name, p, mappings));
  if (modifier === 'not') {
    if (parsed.some((p) => p.op !== '=')) throw new UnsupportedFilter(`${name}:not takes plain values`);
    return parsed.length === 1
      ? { column, op: '!=', value: parsed[0]!.value }
      : { column, op: 'not in', value: parsed.map((p) => p.value) };
  }
  if (parsed.length === 1) return { column, op: parsed[0]!.op, value: parsed[0]!.value };
  if (parsed.some((p) => p.op !== '='))
    throw new UnsupportedFilter(`a comma list with comparison prefixes (${name}=${value}) is not supported`);
  return { column, op: 'in', value: parsed.map((p) => p.value) };
}

function parseValue(name: string, value: string, mappings: readonly CompiledMapping[]): { op: FilterOp; value: unknown } {
  const prefixed = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[0-9-])(.+)$/.exec(value);
  if (prefixed) {
    const op = PREFIX_OPS[prefixed[1]!];
    if (!op) throw new UnsupportedFilter(`prefix "${prefixed[1]}" in ${name}=${value} is not supported`);
    return { op, value: prefixed[2] };
  }
  const bar = value.indexOf('|');
  if (bar >= 0) {
    const code = value.slice(bar + 1);
    if (!code) throw new UnsupportedFilter(`${name}=${value}: a system without a code cannot be pushed down`);
    return { op: '=', value: code };
  }
  const ref = REFERENCE_RE.exec(value);
  if (ref) {
    const [, type, id] = ref as unknown as [string, string, string];
    for (const m of mappings) {
      if (!m.resourceTypes.includes(type) || !m.keyForId) continue;
      const key = m.keyForId(type, id);
      if (key && key.length === 1) return { op: '=', value: key[0] };
    }
    throw new UnsupportedFilter(`${name}=${value}: the id of ${type}/${id} cannot be turned back into a source key`);
  }
  return { op: '=', value };
}
