// The hand-written floor: plain TypeScript doing what mappings/synthea/observation-lab.yaml does, written the
// way one would without fhir-bridge (straight-line object literals, no template engine). The id scheme and the
// lookup table are the mapping set's own (an id is part of the output's contract, not of the engine), so the
// bytes are the engine's; hand-written.test.ts checks that on the sample.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Row } from '../src/connectors/types.js';
import { getZone } from '../src/mapping/datetime.js';
import { canonicalKeyValue, hashId } from '../src/mapping/ids.js';
import { ROOT } from './sources.js';

interface Coding {
  system: string;
  code: string;
  display: string;
}

const QUALIFIERS = (
  parse(readFileSync(join(ROOT, 'mappings/synthea/lookups/result-qualifier.yaml'), 'utf8')) as { map: Record<string, Coding> }
).map;
const UTC = getZone('UTC');
const LAB_PROFILE = ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab'];

/** A timestamp as FHIR dateTime/instant in UTC ('…T18:34:30+00:00'), from a Date or ISO text. */
function utc(v: unknown): string | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  const iso = v instanceof Date ? v.toISOString() : String(v);
  const ms = iso.slice(19, 23);
  return iso.slice(0, 19) + (ms === '.000' || !ms.startsWith('.') ? '' : ms) + '+00:00';
}

/** meta.lastUpdated from the change-tracking column, when the source keeps one (files do not). */
function lastUpdated(v: unknown): { lastUpdated?: string } {
  const when = utc(typeof v === 'string' ? v.replace(' ', 'T') : v);
  return when ? { lastUpdated: when } : {};
}

function text(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  const s = String(v);
  return s.trim() === '' ? undefined : s;
}

export function observationLab(row: Row): object {
  const key = [row.patient, row.encounter, row.code, row.date].map((v) => canonicalKeyValue(v, UTC) ?? '');
  const when = utc(row.date);
  const description = text(row.description);
  const units = text(row.units);
  const value = text(row.value);
  const numeric = row.type === 'numeric';
  const qualifier = numeric || value === undefined ? undefined : QUALIFIERS[value];
  return {
    resourceType: 'Observation',
    id: hashId('observation-lab', 'Observation', key),
    meta: { ...lastUpdated(row.last_updated), profile: LAB_PROFILE },
    status: 'final',
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }],
        text: 'Laboratory',
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: text(row.code), display: description }], text: description },
    subject: row.patient == null ? undefined : { reference: `Patient/${String(row.patient)}` },
    encounter: row.encounter == null ? undefined : { reference: `Encounter/${String(row.encounter)}` },
    effectiveDateTime: when,
    issued: when,
    valueQuantity: numeric
      ? { value: value === undefined ? undefined : Number(value), unit: units, system: 'http://unitsofmeasure.org', code: units }
      : undefined,
    valueCodeableConcept: numeric ? undefined : { coding: qualifier ? [qualifier] : undefined, text: value },
  };
}
