// What the OMOP CDM sample should become, read from its CSV files and CONCEPT (never from an export), so the
// export tests compare the mappings' output with an independent reading of the source.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OMOP_CSV = path.join(ROOT, 'samples', 'omop-cdm54-synthea27nj', 'csv');
export const OMOP_MAPPINGS = path.join(ROOT, 'mappings', 'omop-cdm54');
export const OMOP_TABLES = path.join(ROOT, 'connectors', 'tables', 'omop-cdm54.yaml');

export type CsvRow = Record<string, string>;

/** Rows of samples/omop-cdm54-synthea27nj/csv/<TABLE>.csv.gz (OHDSI's upper-case file names). */
export function readOmop(table: string): CsvRow[] {
  const file = readdirSync(OMOP_CSV).find((f) => f.toLowerCase() === `${table.toLowerCase()}.csv.gz`);
  if (!file) throw new Error(`no ${table}.csv.gz in ${OMOP_CSV}`);
  return parse(gunzipSync(readFileSync(path.join(OMOP_CSV, file))).toString('utf8'), { columns: true, skip_empty_lines: true, bom: true });
}

export interface Concept {
  code: string;
  name: string;
  vocabulary: string;
  conceptClass: string;
}

let concepts: Map<string, Concept> | undefined;
export function concept(id: string | undefined): Concept | undefined {
  concepts ??= new Map(
    readOmop('concept').map((c) => [
      c.concept_id!,
      { code: c.concept_code!, name: c.concept_name!, vocabulary: c.vocabulary_id!, conceptClass: c.concept_class_id! },
    ]),
  );
  return id ? concepts.get(id) : undefined;
}

const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';

/** US Core 6.1 profiles of the vital signs by LOINC code (from the US Core vital-signs page). */
export const VITAL_SIGN_PROFILES: Record<string, string> = {
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
  '8480-6': 'us-core-vital-signs',
  '8462-4': 'us-core-vital-signs',
};

/** The profile and category a MEASUREMENT row's Observation must have (mappings/omop-cdm54/README.md). */
export function measurementProfile(row: CsvRow): { profile: string; category: string } {
  const c = concept(row.measurement_concept_id);
  if (c?.vocabulary === 'LOINC' && VITAL_SIGN_PROFILES[c.code])
    return { profile: US_CORE + VITAL_SIGN_PROFILES[c.code], category: 'vital-signs' };
  if (c?.conceptClass === 'Lab Test') return { profile: `${US_CORE}us-core-observation-lab`, category: 'laboratory' };
  const procedure = c?.vocabulary === 'SNOMED' && c.conceptClass === 'Procedure';
  return { profile: `${US_CORE}us-core-observation-clinical-result`, category: procedure ? 'procedure' : 'exam' };
}

/** The profile and category an OBSERVATION row's Observation must have. */
export function observationProfile(row: CsvRow): { profile: string; category: string } {
  const c = concept(row.observation_concept_id);
  if (c?.vocabulary === 'LOINC' && c.conceptClass === 'Survey')
    return { profile: `${US_CORE}us-core-observation-screening-assessment`, category: 'survey' };
  if (c?.vocabulary === 'LOINC' && c.code === '72166-2' && concept(row.value_as_concept_id))
    return { profile: `${US_CORE}us-core-smokingstatus`, category: 'social-history' };
  return { profile: `${US_CORE}us-core-simple-observation`, category: 'social-history' };
}

const isVaccine = (r: CsvRow): boolean => concept(r.drug_concept_id)?.vocabulary === 'CVX';

/** Source table → mapping(s) reading it, and the resources each row must become. */
export function expectedCounts(): Record<string, number> {
  const drugs = readOmop('drug_exposure');
  const counts: Record<string, number> = {
    Patient: readOmop('person').length,
    EpisodeOfCare: readOmop('observation_period').length,
    Encounter: readOmop('visit_occurrence').length + readOmop('visit_detail').length,
    Condition: readOmop('condition_occurrence').length,
    MedicationRequest: drugs.filter((r) => !isVaccine(r)).length,
    Immunization: drugs.filter(isVaccine).length,
    Procedure: readOmop('procedure_occurrence').length,
    Device: readOmop('device_exposure').length,
    Observation: readOmop('measurement').length + readOmop('observation').length,
    Practitioner: readOmop('provider').length,
    Organization: readOmop('care_site').length,
    Location: readOmop('location').length,
    Coverage: readOmop('payer_plan_period').length,
  };
  // an export lists only the types it wrote
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** Rows each mapping must read: its table's rows. */
export const MAPPING_TABLES: Record<string, string> = {
  patient: 'person',
  episodeofcare: 'observation_period',
  encounter: 'visit_occurrence',
  'encounter-visit-detail': 'visit_detail',
  condition: 'condition_occurrence',
  medicationrequest: 'drug_exposure',
  procedure: 'procedure_occurrence',
  device: 'device_exposure',
  'observation-measurement': 'measurement',
  observation: 'observation',
  practitioner: 'provider',
  organization: 'care_site',
  location: 'location',
  coverage: 'payer_plan_period',
};
