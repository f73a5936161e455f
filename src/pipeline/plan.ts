// Turns an export request into what to read per mapping: which queries (with `_since`, the patient list and
// `_typeFilter` pushed down as WHERE conditions) and which resourceTypes each of them writes.
//
// `_typeFilter` is an OR of ANDed filter sets, and SourceQuery only ANDs, so a filtered type is read once per
// alternative and resources seen in an earlier alternative are skipped (by id). A mapping that emits a
// filtered and an unfiltered type reads its source once per group of types sharing the same filters.
import type { Filter, SourceQuery } from '../connectors/types.js';
import type { CompiledMapping } from '../mapping/types.js';
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

export interface ExportPlan {
  runs: MappingRun[];
  /** mappings that run, in order (a mapping may have several runs) */
  mappings: CompiledMapping[];
  notes: string[];
}

export function planExport(req: Pick<ExportRequest, 'mappings' | 'types' | 'since' | 'patientKeys' | 'typeFilters'>): ExportPlan {
  const runs: MappingRun[] = [];
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
    if (req.since) {
      if (mapping.source.lastUpdated) where.push({ column: mapping.source.lastUpdated, op: '>', value: req.since });
      else notes.push(`mapping ${mapping.name}: no lastUpdated column, so _since could not filter it; all its rows were exported`);
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
        const filtered = [...where, ...alternative];
        for (const keys of patientChunks ?? [undefined]) {
          const patientFilter: Filter[] = keys ? [{ column: mapping.source.patient!, op: 'in', value: keys }] : [];
          queries.push({ ...base, where: [...filtered, ...patientFilter] });
        }
      }
      runs.push({ mapping, emit: new Set(group.types), queries, dedupe: alternatives.length > 1, writesRowIssues: first });
      first = false;
    }
    mappings.push(mapping);
  }
  return { runs, mappings, notes };
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
