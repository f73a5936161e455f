// What the Synthea sample should become, computed from the CSV files themselves (never from an export), so
// the export tests compare the mappings' output against an independent reading of the source.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';

export const SAMPLE_CSV = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../samples/synthea-11pt/csv');

export type CsvRow = Record<string, string>;

/** Rows of samples/synthea-11pt/csv/<table>.csv(.gz), columns as in the header (upper case). */
export function readTable(table: string): CsvRow[] {
  const plain = path.join(SAMPLE_CSV, `${table}.csv`);
  let text: string;
  try {
    text = readFileSync(plain, 'utf8');
  } catch {
    text = gunzipSync(readFileSync(`${plain}.gz`)).toString('utf8');
  }
  return parse(text, { columns: true, skip_empty_lines: true, bom: true }) as CsvRow[];
}

export const SYSTOLIC = '8480-6';
export const DIASTOLIC = '8462-4';
export const OBSERVATION_CATEGORIES = ['vital-signs', 'laboratory', 'survey', 'social-history'];

/** Key of one observations row as the Observation it becomes shows it (subject, encounter, code, instant). */
export function observationRowKey(r: CsvRow): string {
  return [r.PATIENT, r.ENCOUNTER ?? '', r.CODE, new Date(r.DATE!).toISOString()].join('|');
}

/** Key of the measurement a blood-pressure row belongs to. */
export function measurementKey(r: CsvRow): string {
  return [r.PATIENT, r.ENCOUNTER ?? '', new Date(r.DATE!).toISOString()].join('|');
}

/** Resources per type the sample must yield (the mapping decisions are in mappings/synthea/README.md). */
export function expectedCounts(): Record<string, number> {
  const observations = readTable('observations');
  const encounters = readTable('encounters');
  const careplans = readTable('careplans');
  const organizations = readTable('organizations');
  const bp = observations.filter((r) => r.CATEGORY === 'vital-signs' && (r.CODE === SYSTOLIC || r.CODE === DIASTOLIC));
  const panels = new Set(bp.map(measurementKey)).size;
  const labDraws = new Set(observations.filter((r) => r.CATEGORY === 'laboratory').map(measurementKey)).size;
  return {
    Patient: readTable('patients').length,
    Encounter: encounters.length,
    Provenance: encounters.length,
    Condition: readTable('conditions').length,
    Observation: observations.length - bp.length + panels,
    DiagnosticReport: labDraws,
    Procedure: readTable('procedures').length,
    Immunization: readTable('immunizations').length,
    MedicationRequest: readTable('medications').length,
    AllergyIntolerance: readTable('allergies').length,
    CarePlan: careplans.length,
    CareTeam: careplans.length,
    Device: readTable('devices').length,
    Organization: organizations.length,
    Location: organizations.length,
    Practitioner: readTable('providers').length,
    // one study per Id (a row is one image); identical supply rows (item, encounter, day) are one delivery
    ImagingStudy: new Set(readTable('imaging_studies').map((r) => r.Id)).size,
    SupplyDelivery: new Set(readTable('supplies').map((r) => [r.PATIENT, r.ENCOUNTER, r.CODE, r.DATE].join('|'))).size,
  };
}

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';

const VITAL_SIGN_PROFILES: Record<string, string> = {
  '8302-2': 'us-core-body-height',
  '29463-7': 'us-core-body-weight',
  '39156-5': 'us-core-bmi',
  '59576-9': 'pediatric-bmi-for-age',
  '77606-2': 'pediatric-weight-for-height',
  '8289-1': 'head-occipital-frontal-circumference-percentile',
  '9843-4': 'us-core-head-circumference',
  '8867-4': 'us-core-heart-rate',
  '9279-1': 'us-core-respiratory-rate',
  '8310-5': 'us-core-body-temperature',
  '2708-6': 'us-core-pulse-oximetry',
  '85354-9': 'us-core-blood-pressure',
};

/** Types the set makes to R4 base, without a profile (US Core 6.1 has none for them). */
export const BASE_R4_TYPES = ['ImagingStudy', 'SupplyDelivery'];

/** The US Core profile a resource must claim, decided from what it is (type, category, LOINC code). */
export function expectedProfile(resource: {
  resourceType: string;
  category?: Array<{ coding?: Array<{ code?: string }> }>;
  code?: { coding?: Array<{ code?: string }> };
}): string {
  const simple: Record<string, string> = {
    Patient: 'us-core-patient',
    Encounter: 'us-core-encounter',
    Condition: 'us-core-condition-encounter-diagnosis',
    DiagnosticReport: 'us-core-diagnosticreport-lab',
    Procedure: 'us-core-procedure',
    Immunization: 'us-core-immunization',
    MedicationRequest: 'us-core-medicationrequest',
    AllergyIntolerance: 'us-core-allergyintolerance',
    CarePlan: 'us-core-careplan',
    CareTeam: 'us-core-careteam',
    Device: 'us-core-implantable-device',
    Organization: 'us-core-organization',
    Location: 'us-core-location',
    Practitioner: 'us-core-practitioner',
    Provenance: 'us-core-provenance',
  };
  if (resource.resourceType !== 'Observation') return US_CORE + simple[resource.resourceType]!;
  const categories = (resource.category ?? []).flatMap((c) => (c.coding ?? []).map((x) => x.code));
  const codes = (resource.code?.coding ?? []).map((c) => c.code);
  if (categories.includes('vital-signs')) {
    const specific = codes.map((c) => VITAL_SIGN_PROFILES[c ?? '']).find(Boolean);
    return US_CORE + (specific ?? 'us-core-vital-signs');
  }
  if (categories.includes('laboratory')) return US_CORE + 'us-core-observation-lab';
  if (codes.includes('72166-2')) return US_CORE + 'us-core-smokingstatus';
  // Synthea's survey rows carry LOINC codes; QOLS/QALY/DALY (no category in the CSV) do not
  if (categories.includes('survey') && codes.some((c) => /^\d+-\d$/.test(c ?? '')))
    return US_CORE + 'us-core-observation-screening-assessment';
  return US_CORE + 'us-core-simple-observation';
}
