// Decides what a kick-off request will export, given the source's mappings, the Group (if any) and the
// client's scopes: the resource types (only what mappings produce; for Patient and Group exports only
// the patient compartment, i.e. mappings with a `patient` column; only what the scopes allow), the
// `_typeFilter` queries that can be pushed down, and the patient source keys (Group members, the
// `patient` parameter mapped back through the Patient mapping's ids and checked against the source).
import { HttpError } from '../../errors.js';
import type { CompiledMapping, CompiledMappingSet } from '../../mapping/types.js';
import type { SourceAdapter } from '../../connectors/types.js';
import { canExport } from '../auth/scopes.js';
import type { ParameterProblems, RawKickoffParams } from './params.js';
import { translateTypeFilters } from '../../jobs/type-filter.js';
import { MAX_IN_LIST } from '../../pipeline/plan.js';
import type { ExportLevel, ExportParams } from '../../jobs/types.js';

export interface KickoffContext {
  level: ExportLevel;
  mappings: CompiledMappingSet;
  adapter: SourceAdapter;
  problems: ParameterProblems;
  /** the token's scopes; undefined in open mode */
  scopes?: string[];
  /** Group-level: the group's id and member source keys */
  group?: { id: string; members: unknown[] };
}

export interface ResolvedKickoff {
  params: ExportParams;
  patientKeys?: unknown[];
}

/** Types an export at this level can produce. */
export function exportableTypes(mappings: CompiledMappingSet, level: ExportLevel): string[] {
  const list = level === 'system' ? mappings.mappings : mappings.mappings.filter((m) => m.source.patient);
  return [...new Set(list.flatMap((m) => m.resourceTypes))].sort();
}

/** The kick-off levels' exportable types (for the serve banner). */
export function describeExportableTypes(mappings: CompiledMappingSet): Record<ExportLevel, string[]> {
  return {
    system: exportableTypes(mappings, 'system'),
    patient: exportableTypes(mappings, 'patient'),
    group: exportableTypes(mappings, 'group'),
  };
}

export async function resolveKickoff(raw: RawKickoffParams, ctx: KickoffContext): Promise<ResolvedKickoff> {
  const { problems, scopes } = ctx;
  const all = new Set(ctx.mappings.resourceTypes);
  const atLevel = exportableTypes(ctx.mappings, ctx.level);
  const allowed = (type: string): boolean => scopes === undefined || canExport(scopes, type);

  let types: string[];
  if (raw.types) {
    types = [];
    for (const type of raw.types) {
      if (!all.has(type)) {
        problems.unsupported('_type', `no mapping of this server produces ${type} (it exports ${[...all].sort().join(', ')})`);
      } else if (!atLevel.includes(type)) {
        problems.unsupported('_type', `${type} is outside the patient compartment, so a ${ctx.level}-level export cannot include it`);
      } else if (!allowed(type)) {
        throw new HttpError(403, `_type: the access token's scopes do not allow reading ${type}`, 'forbidden');
      } else {
        types.push(type);
      }
    }
  } else {
    types = atLevel.filter(allowed);
    if (types.length === 0)
      throw new HttpError(403, "the access token's scopes allow none of the resource types this server exports", 'forbidden');
  }

  const params: ExportParams = { outputFormat: 'application/fhir+ndjson', types };
  if (raw.since) {
    // files keep no change times: refused (400), or ignored under handling=lenient (a full export, said so)
    if (ctx.adapter.changesUnknown) problems.unsupported('_since', `cannot be applied: ${ctx.adapter.changesUnknown}`);
    else params.since = raw.since;
  }
  if (raw.elements) params.elements = raw.elements;
  if (raw.includeAssociatedData) {
    if (!allowed('Provenance'))
      throw new HttpError(403, "includeAssociatedData: the access token's scopes do not allow reading Provenance", 'forbidden');
    params.includeAssociatedData = raw.includeAssociatedData;
    // Provenance the mappings produce is the associated data; without such a mapping the executor
    // writes Provenance of its own (this export assembled the resources from the source).
    if (atLevel.includes('Provenance') && !types.includes('Provenance')) types.push('Provenance');
  }
  if (raw.typeFilters) {
    const { accepted } = translateTypeFilters(raw.typeFilters, ctx.mappings.mappings, types, problems);
    if (accepted.length) params.typeFilters = accepted;
  }

  const out: ResolvedKickoff = { params };
  if (ctx.group) out.patientKeys = ctx.group.members;
  if (raw.patients) {
    const { ids, keys } = await patientKeysFor(raw.patients, ctx);
    if (ctx.group) {
      const members = new Set(ctx.group.members.map(String));
      const outside = ids.filter((_, i) => !members.has(String(keys[i])));
      if (outside.length)
        throw new HttpError(
          400,
          `patient: ${outside.map((p) => `Patient/${p}`).join(', ')} ${outside.length === 1 ? 'is not a member' : 'are not members'} of Group/${ctx.group.id}`,
          'not-found',
        );
    }
    params.patients = ids;
    out.patientKeys = keys;
  }
  return out;
}

export function patientMapping(mappings: CompiledMappingSet): CompiledMapping | undefined {
  return mappings.mappings.find((m) => m.resourceTypes.includes('Patient') && m.source.key.length === 1);
}

/**
 * Source keys of the given Patient ids, in order. An id that is not in the source is a 400; under
 * `Prefer: handling=lenient` it is dropped instead and reported in the manifest's error file (IG 2.0.0,
 * export.html#headers: with handling=lenient the server processes what it can and reports the rest).
 */
async function patientKeysFor(ids: string[], ctx: KickoffContext): Promise<{ ids: string[]; keys: unknown[] }> {
  const mapping = patientMapping(ctx.mappings);
  if (!mapping?.keyForId) {
    throw new HttpError(
      400,
      'patient: this server cannot map Patient ids back to source rows (the Patient mapping has no invertible id template)',
      'not-supported',
    );
  }
  const keys = ids.map((id) => mapping.keyForId!('Patient', id)?.[0]);
  const unknown = ids.filter((_, i) => keys[i] === undefined);
  const candidates = keys.filter((k) => k !== undefined);
  const found = new Set<string>();
  const keyColumn = mapping.source.key[0]!;
  // in IN lists every source accepts (Oracle: 1000 expressions, SQL Server: 2100 parameters)
  for (let i = 0; i < candidates.length; i += MAX_IN_LIST) {
    const query = {
      ...mapping.source.query,
      where: [...(mapping.source.query.where ?? []), { column: keyColumn, op: 'in' as const, value: candidates.slice(i, i + MAX_IN_LIST) }],
    };
    for await (const row of ctx.adapter.stream(query)) found.add(String(row[keyColumn.toLowerCase()]));
  }
  ids.forEach((id, i) => {
    if (keys[i] !== undefined && !found.has(String(keys[i]))) unknown.push(id);
  });
  const unknownIds = new Set(unknown);
  if (unknown.length) {
    ctx.problems.unsupported(
      'patient',
      `${unknown.map((p) => `Patient/${p}`).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not on this server`,
      'not-found',
    );
  }
  const known = ids.flatMap((id, i) => (unknownIds.has(id) ? [] : [{ id, key: keys[i] }]));
  return { ids: known.map((k) => k.id), keys: known.map((k) => k.key) };
}
