// Groups for Group-level export, defined in the connector YAML under `groups:`. Each entry is a roster:
// the patient source keys (values of the Patient mapping's key column) that belong to it.
//
//   groups:
//     diabetes-panel:                        # the Group id: [base]/Group/diabetes-panel/$export
//       name: Patients with diabetes          # Group.name (required)
//       description: Active diabetes diagnoses, any time   # shown in Group.text
//       sql: SELECT DISTINCT PATIENT FROM conditions WHERE CODE = '44054006'
//       # column: PATIENT                     # needed only when the SELECT returns several columns
//     medicare-members:
//       name: Medicare members
//       table: payer_transitions              # or a roster table...
//       column: PATIENT                       # ...and the column holding the patient key
//       where: { PAYER: b1c428d6-4f07-31e0-90f0-68ffa6ff8c76 }   # optional, like a mapping's `where`
//
// `sql` may be per dialect like a mapping source ({ default: ..., postgres: ... }). Members become
// Group.member references through the Patient mapping's ids, so a Group and the Patient resources of
// its export agree. `GET [base]/Group` lists the groups (search by name or identifier), and
// `GET [base]/Group/[id]` reads one.
import type { Bundle, Group } from 'fhir/r4';
import type { Filter, SourceAdapter, SourceQuery } from '../connectors/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { FhirBridgeError, HttpError } from '../errors.js';
import { isFhirId } from '../fhir/id.js';

export const GROUP_IDENTIFIER_SYSTEM = 'urn:fhir-bridge:group';

export interface GroupDefinition {
  id: string;
  name: string;
  description?: string;
  query: SourceQuery;
  /** lower-cased column holding the patient key; undefined: the only column of the SELECT */
  column?: string;
}

export class GroupConfigError extends FhirBridgeError {
  constructor(message: string) {
    super(message, { issueCode: 'invalid', status: 500 });
  }
}

/** Validates the connector's `groups:` member (opaque to the connector loader). */
export function parseGroups(raw: Record<string, unknown> | undefined, file = 'connector'): GroupDefinition[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new GroupConfigError(`${file}: groups must be a map of group id → definition`);
  return Object.entries(raw).map(([id, value]) => {
    const where = `${file}: groups.${id}`;
    if (!isFhirId(id)) throw new GroupConfigError(`${where}: the id must be a FHIR id (letters, digits, "-", ".", at most 64)`);
    const def = value as Record<string, unknown>;
    if (typeof def !== 'object' || def === null) throw new GroupConfigError(`${where}: must be a map with name and sql or table`);
    const known = new Set(['name', 'description', 'sql', 'table', 'column', 'where']);
    for (const key of Object.keys(def))
      if (!known.has(key)) throw new GroupConfigError(`${where}: unknown key "${key}" (expected ${[...known].join(', ')})`);
    if (typeof def.name !== 'string' || !def.name) throw new GroupConfigError(`${where}: "name" is required`);
    if ((def.sql === undefined) === (def.table === undefined))
      throw new GroupConfigError(`${where}: give exactly one of "sql" and "table"`);
    if (def.table !== undefined && typeof def.column !== 'string')
      throw new GroupConfigError(`${where}: a roster "table" needs "column" (the patient key column)`);
    if (def.column !== undefined && typeof def.column !== 'string') throw new GroupConfigError(`${where}: "column" must be a column name`);
    const query: SourceQuery = def.sql !== undefined ? { sql: def.sql as SourceQuery['sql'] } : { table: String(def.table) };
    if (def.where !== undefined) query.where = parseWhere(def.where, where);
    const out: GroupDefinition = { id, name: def.name, query };
    if (typeof def.description === 'string') out.description = def.description;
    if (typeof def.column === 'string') out.column = def.column.toLowerCase();
    return out;
  });
}

function parseWhere(raw: unknown, where: string): Filter[] {
  if (Array.isArray(raw)) {
    return raw.map((f: Filter, i) => {
      if (typeof f?.column !== 'string' || typeof f.op !== 'string')
        throw new GroupConfigError(`${where}.where[${i}]: needs column and op`);
      return { ...f, column: f.column.toLowerCase() };
    });
  }
  if (typeof raw !== 'object' || raw === null)
    throw new GroupConfigError(`${where}.where: must be a map { COLUMN: value } or a list of { column, op, value }`);
  return Object.entries(raw).map(([column, value]): Filter => {
    const c = column.toLowerCase();
    if (value === null) return { column: c, op: 'is null' };
    if (Array.isArray(value)) return { column: c, op: 'in', value };
    return { column: c, op: '=', value };
  });
}

export class GroupDirectory {
  private readonly byId: Map<string, GroupDefinition>;

  constructor(
    definitions: GroupDefinition[],
    private readonly adapter: SourceAdapter,
    private readonly mappings: CompiledMappingSet,
  ) {
    this.byId = new Map(definitions.map((d) => [d.id, d]));
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  definition(id: string): GroupDefinition {
    const def = this.byId.get(id);
    if (!def) throw new HttpError(404, `Group/${id} is not defined (known groups: ${this.ids().join(', ') || 'none'})`, 'not-found');
    return def;
  }

  /** The patient source keys of a group, distinct, in roster order. */
  async memberKeys(id: string, signal?: AbortSignal): Promise<unknown[]> {
    const def = this.definition(id);
    const seen = new Set<string>();
    const keys: unknown[] = [];
    for await (const row of this.adapter.stream(def.query, signal ? { signal } : {})) {
      const column = def.column ?? onlyColumn(row, def);
      const value = row[column];
      if (value === null || value === undefined) continue;
      const k = String(value);
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(value);
      }
    }
    return keys;
  }

  /** FHIR id of the Patient made from a source key */
  patientId(key: unknown): string | undefined {
    for (const m of this.mappings.mappings) {
      if (!m.resourceTypes.includes('Patient')) continue;
      const id = m.idFor('Patient', [key]);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  async resource(id: string): Promise<Group> {
    const def = this.definition(id);
    const keys = await this.memberKeys(id);
    const members = keys.map((k) => this.patientId(k)).filter((p): p is string => p !== undefined);
    const group: Group = {
      resourceType: 'Group',
      id,
      identifier: [{ system: GROUP_IDENTIFIER_SYSTEM, value: id }],
      active: true,
      type: 'person',
      actual: true,
      name: def.name,
      quantity: members.length,
    };
    if (def.description) {
      group.text = { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXml(def.description)}</div>` };
    }
    if (members.length > 0) group.member = members.map((p) => ({ entity: { reference: `Patient/${p}` } }));
    return group;
  }

  /** `GET [base]/Group[?name=...&identifier=...&_id=...]` as a searchset Bundle */
  async search(fhirBase: string, params: { name?: string; identifier?: string; _id?: string }): Promise<Bundle> {
    const ids = this.ids().filter((id) => {
      const def = this.byId.get(id)!;
      if (params._id !== undefined && !params._id.split(',').includes(id)) return false;
      if (params.name !== undefined && !def.name.toLowerCase().startsWith(params.name.toLowerCase())) return false;
      if (params.identifier !== undefined) {
        const [system, value] = params.identifier.includes('|') ? params.identifier.split('|') : [undefined, params.identifier];
        if (system && system !== GROUP_IDENTIFIER_SYSTEM) return false;
        if (value !== id) return false;
      }
      return true;
    });
    const entry = await Promise.all(
      ids.map(async (id) => ({
        fullUrl: `${fhirBase}/Group/${id}`,
        resource: await this.resource(id),
        search: { mode: 'match' as const },
      })),
    );
    return { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
  }
}

function onlyColumn(row: Record<string, unknown>, def: GroupDefinition): string {
  const cols = Object.keys(row);
  if (cols.length !== 1) {
    throw new GroupConfigError(
      `groups.${def.id}: the SQL returns ${cols.length} columns (${cols.join(', ')}); add "column:" to say which holds the patient key`,
    );
  }
  return cols[0]!;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
