// Turns an export request into what to read per mapping: which queries (with `_since`, the patient list and
// `_typeFilter` pushed down as WHERE conditions) and which resourceTypes each of them writes.
//
// `_typeFilter` is an OR of ANDed filter sets, and SourceQuery only ANDs, so a filtered type is read once per
// alternative and resources seen in an earlier alternative are skipped (by id). A mapping that emits a
// filtered and an unfiltered type reads its source once per group of types sharing the same filters.
import type { Filter, SourceQuery } from '../connectors/types.js';
import type { CompiledChild, CompiledMapping } from '../mapping/types.js';
import type { ExportRequest } from './types.js';

/** Largest IN list sent to a source (Oracle refuses more than 1000 expressions). */
export const MAX_IN_LIST = 1000;

export interface MappingRun {
  mapping: CompiledMapping;
  /** resourceTypes this run writes; others the mapping makes are dropped */
  emit: Set<string>;
  /** queries whose rows are read one after the other */
  queries: SourceQuery[];
  /** the queries are `_typeFilter` alternatives that may overlap: skip resources already written */
  dedupe: boolean;
  /** row issues that concern no particular resourceType are written by one run of a mapping only */
  writesRowIssues: boolean;
}

/** Where a `_since` export finds a mapping's deleted rows: their source keys become DELETE entries. */
export interface DeletionRun {
  mapping: CompiledMapping;
  /** resourceTypes the deleted rows had resources of (the mapping's types the export asked for) */
  types: string[];
  /** tombstones (or soft-deleted source rows) after `since`, limited to the export's patients */
  query: SourceQuery;
  /** columns of the query holding the source key, in the order of mapping.source.key */
  key: string[];
  /** column holding when the row was deleted (the Bundle's meta.lastUpdated) */
  at: string;
}

export interface ExportPlan {
  runs: MappingRun[];
  /** only for `_since` exports: where deleted rows are read */
  deletions: DeletionRun[];
  /** mappings that run, in order (a mapping may have several runs) */
  mappings: CompiledMapping[];
  notes: string[];
}

export function planExport(req: Pick<ExportRequest, 'mappings' | 'types' | 'since' | 'patientKeys' | 'typeFilters'>): ExportPlan {
  const runs: MappingRun[] = [];
  const deletions: DeletionRun[] = [];
  const mappings: CompiledMapping[] = [];
  const notes: string[] = [];
  const wantedTypes = req.types ? new Set(req.types) : undefined;
  const patientChunks = req.patientKeys ? chunk(distinct(req.patientKeys), MAX_IN_LIST) : undefined;

  for (const mapping of req.mappings.mappings) {
    const emitted = mapping.resourceTypes.filter((t) => !wantedTypes || wantedTypes.has(t));
    if (emitted.length === 0) continue;
    if (patientChunks && !mapping.source.patient) {
      notes.push(
        `mapping ${mapping.name}: no patient column, so its ${emitted.join(', ')} resources are not in any patient's compartment and were not exported`,
      );
      continue;
    }
    if (patientChunks && patientChunks.length === 0) continue;

    const base = mapping.source.query;
    const where: Filter[] = [...(base.where ?? [])];
    const { deleted } = mapping.source;
    // soft-deleted rows are never exported as resources
    if (deleted?.kind === 'column') where.push({ column: deleted.column, op: 'is null' });
    // A resource changed when its own row or one of its child rows did: one query each, with the run
    // skipping resources an earlier one wrote, so each of them can use its own index (an OR of both would
    // make the database read every parent row).
    let changes: Filter[][] = [[]];
    if (req.since) {
      const since = req.since;
      // A source without its own lastUpdated whose children have one is made of its child rows (a panel of
      // observations): the children's changes are its changes.
      const childChanges = mapping.children.filter((c) => c.lastUpdated).map((c) => [childChangedSince(c, since)]);
      if (mapping.source.lastUpdated) changes = [[{ column: mapping.source.lastUpdated, op: '>', value: since }], ...childChanges];
      else if (childChanges.length > 0) changes = childChanges;
      else notes.push(`mapping ${mapping.name}: no lastUpdated column, so _since could not filter it; all its rows were exported`);
      if (deleted) {
        const deletion = planDeletion(mapping, emitted, since, patientChunks ? distinct(req.patientKeys!) : undefined);
        if (typeof deletion === 'string') notes.push(deletion);
        else deletions.push(...deletion);
      }
    }

    // Types sharing the same alternatives read the source together.
    const groups = new Map<string, { types: string[]; alternatives: Filter[][] | undefined }>();
    for (const type of emitted) {
      const alternatives = req.typeFilters?.[type];
      const effective = !alternatives || alternatives.length === 0 || alternatives.some((a) => a.length === 0) ? undefined : alternatives;
      const id = effective ? JSON.stringify(effective) : '';
      const group = groups.get(id) ?? { types: [], alternatives: effective };
      group.types.push(type);
      groups.set(id, group);
    }

    let first = true;
    // The unfiltered group (id '') first: it is the one that writes row-level issues.
    for (const id of [...groups.keys()].sort()) {
      const group = groups.get(id)!;
      const alternatives = group.alternatives ?? [[]];
      const queries: SourceQuery[] = [];
      for (const alternative of alternatives) {
        for (const change of changes) {
          const filtered = [...where, ...alternative, ...change];
          for (const keys of patientChunks ?? [undefined]) {
            const patientFilter: Filter[] = keys ? [{ column: mapping.source.patient!, op: 'in', value: keys }] : [];
            queries.push({ ...base, where: [...filtered, ...patientFilter] });
          }
        }
      }
      const dedupe = alternatives.length > 1 || changes.length > 1;
      runs.push({ mapping, emit: new Set(group.types), queries, dedupe, writesRowIssues: first });
      first = false;
    }
    mappings.push(mapping);
  }
  return { runs, deletions, mappings, notes };
}

/** `(parent join columns) IN (SELECT child join columns FROM <where the child's changes are> WHERE lu > since)`. */
export function childChangedSince(child: CompiledChild, since: Date): Filter {
  const lu = child.lastUpdated!;
  const changed: Filter = { column: lu.column, op: '>', value: since };
  const query = lu.table ? { table: lu.table, where: [changed] } : { ...child.query, where: [...(child.query.where ?? []), changed] };
  const parents = child.on.map((o) => o.parent);
  return { column: parents[0]!, op: 'in query', columns: parents, select: { query, columns: child.on.map((o) => o.child) } };
}

/** The deletion queries of a mapping, or a note saying why its deletions cannot be listed. */
function planDeletion(mapping: CompiledMapping, types: string[], since: Date, patientKeys: unknown[] | undefined): DeletionRun[] | string {
  const deleted = mapping.source.deleted!;
  const after: Filter = { column: deleted.kind === 'column' ? deleted.column : deleted.at, op: '>', value: since };
  const patient = deleted.kind === 'column' ? mapping.source.patient : deleted.patient;
  if (patientKeys && !patient)
    return `mapping ${mapping.name}: its deletions name no patient, so they cannot be limited to the export's patients and are not listed`;
  const base = deleted.kind === 'column' ? mapping.source.query : deleted.query;
  const key = deleted.kind === 'column' ? mapping.source.key : deleted.key;
  const at = deleted.kind === 'column' ? deleted.column : deleted.at;
  return (patientKeys ? chunk(patientKeys, MAX_IN_LIST) : [undefined]).map((keys) => ({
    mapping,
    types,
    key,
    at,
    query: { ...base, where: [...(base.where ?? []), after, ...(keys ? [{ column: patient!, op: 'in' as const, value: keys }] : [])] },
  }));
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Values without repeats, comparing numbers and their text as equal (`1` and `'1'` are one key). */
export function distinct(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const v of values) {
    const k = keyPart(v);
    if (k === undefined || seen.has(k)) continue;
    seen.add(k);
    out.push(v);
  }
  return out;
}

/** Text form of a join/key value; undefined for null (which matches nothing, as in SQL). */
export function keyPart(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return String(value);
}
