// What the MIMIC-IV demo should become, read from its CSV files (never from an export).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MIMIC_CSV = path.join(ROOT, 'samples', 'mimic-iv-demo-2.2', 'csv');
export const MIMIC_MAPPINGS = path.join(ROOT, 'mappings', 'mimic-iv');
export const MIMIC_TABLES = path.join(ROOT, 'connectors', 'tables', 'mimic-iv.yaml');

export type CsvRow = Record<string, string>;

const cache = new Map<string, CsvRow[]>();
export function readMimic(table: string): CsvRow[] {
  let rows = cache.get(table);
  if (!rows) {
    rows = parse(gunzipSync(readFileSync(path.join(MIMIC_CSV, `${table}.csv.gz`))).toString('utf8'), {
      columns: true,
      skip_empty_lines: true,
    }) as CsvRow[];
    cache.set(table, rows);
  }
  return rows;
}

/** Distinct care-unit names over transfers and icustays. */
export function careUnits(): Set<string> {
  return new Set(
    [...readMimic('transfers').map((r) => r.careunit), ...readMimic('icustays').flatMap((r) => [r.first_careunit, r.last_careunit])].filter(
      (u): u is string => Boolean(u),
    ),
  );
}

/** Resources per type the demo must yield (mappings/mimic-iv/README.md). */
export function expectedCounts(): Record<string, number> {
  return {
    Patient: readMimic('patients').length,
    Encounter: readMimic('admissions').length + readMimic('icustays').length + readMimic('transfers').filter((r) => !r.hadm_id).length,
    Location: careUnits().size,
    Condition: readMimic('diagnoses_icd').length,
    Procedure: readMimic('procedures_icd').length,
    Observation: readMimic('labevents').length + readMimic('microbiologyevents').length + readMimic('omr').length,
    MedicationRequest: readMimic('prescriptions').length,
  };
}

/** Rows each mapping must read. */
export function expectedRowsRead(): Record<string, number> {
  return {
    patient: readMimic('patients').length,
    'encounter-admission': readMimic('admissions').length,
    'encounter-ed': readMimic('transfers').filter((r) => !r.hadm_id).length,
    'encounter-icustay': readMimic('icustays').length,
    location: careUnits().size,
    condition: readMimic('diagnoses_icd').length,
    procedure: readMimic('procedures_icd').length,
    'observation-lab': readMimic('labevents').length,
    'observation-micro': readMimic('microbiologyevents').length,
    'observation-vitals': readMimic('omr').length,
    medicationrequest: readMimic('prescriptions').length,
  };
}
