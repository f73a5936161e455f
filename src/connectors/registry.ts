// Dialect names → descriptors. The connector file check, the adapter loader and the SQL builder look a
// dialect up here instead of switching on its name; the table itself is src/connectors/dialects/index.ts.
import { ConnectorError } from '../errors.js';
import type { DialectDescriptor } from './dialect-descriptor.js';
import * as table from './dialects/index.js';

export type DialectName = keyof typeof table;

const DESCRIPTORS: ReadonlyMap<string, DialectDescriptor> = new Map(Object.values(table).map((d: DialectDescriptor) => [d.name, d]));

/**
 * The canonical dialect names, sorted: the `kind`s a connector file may give (besides aliases) and the keys a
 * mapping's per-dialect `sql:` may use (with `default`). mappings/mapping.schema.json must list the same.
 */
export const DIALECT_NAMES: readonly DialectName[] = [...DESCRIPTORS.keys()].sort() as DialectName[];

/** The descriptor of a canonical dialect name. */
export function dialect(name: string): DialectDescriptor {
  const d = DESCRIPTORS.get(name);
  if (!d) throw new ConnectorError(`unknown connector kind '${name}' (expected one of ${DIALECT_NAMES.join(', ')})`);
  return d;
}

/** The canonical name of a `kind` as written in a connector file (any case, any alias); undefined if unknown. */
export function resolveKind(kind: string): DialectName | undefined {
  const wanted = kind.toLowerCase();
  for (const d of DESCRIPTORS.values()) if (d.name === wanted || d.aliases.includes(wanted)) return d.name as DialectName;
  return undefined;
}

/** Every spelling `kind` accepts, canonical names first: what the connector JSON Schema's enum must hold. */
export function kindSpellings(): string[] {
  return [...DIALECT_NAMES, ...DIALECT_NAMES.flatMap((n) => DESCRIPTORS.get(n)!.aliases)];
}

/** The kinds for messages: 'csv, duckdb, mssql, mysql (mariadb), ...'. */
export function kindList(): string {
  return DIALECT_NAMES.map((n) => DESCRIPTORS.get(n)!.label ?? n).join(', ');
}

/** The dialects whose connectors may name a shipped sample, for messages: 'mysql, postgres and sqlite'. */
export function sampleHolders(): string {
  const names = DIALECT_NAMES.filter((n) => DESCRIPTORS.get(n)!.holdsSample);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('');
}
