// Micro benchmark of the mapping hot path (`map`) on Synthea-shaped rows: a US Core-like Patient (lookups,
// dates, templates, hash-free id) and an Observation with a hash id, $ref, dateTime in a zone and a
// decimal, each with the generated template code and with the interpreter. Then the shipped observation-lab
// mapping against the hand-written mapper (hand-written.ts) on the same rows, serialised as NDJSON: CPU time
// only, no database and no files, so the ratio holds on a busy machine where the floors' wall times do not.
// `BENCH=200000 npx vitest run bench/mapping.test.ts` prints both; no I/O is involved.
import { compileMappingSource, loadMappingSet } from '../src/mapping/index.js';
import type { Engine } from '../src/mapping/compile.js';
import type { Row } from '../src/connectors/types.js';
import { observationLab } from './hand-written.js';
import { SYNTHEA_MAPPINGS } from './sources.js';

const MAPPINGS = `
mapping: patient
source: { table: patients, key: Id, patient: Id }
lookups:
  gender: { map: { M: male, F: female }, default: unknown }
  race: { map: { white: { system: "urn:oid:2.16.840.1.113883.6.238", code: 2106-3, display: White }, black: { system: "urn:oid:2.16.840.1.113883.6.238", code: 2054-5, display: Black or African American } } }
resources:
  - resourceType: Patient
    id: "{Id}"
    profile: http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient
    template:
      extension:
        - url: http://hl7.org/fhir/us/core/StructureDefinition/us-core-race
          extension:
            - { url: ombCategory, valueCoding: { $lookup: race, $column: RACE } }
            - { url: text, valueString: "{RACE}" }
      identifier: [{ system: "https://github.com/synthetichealth/synthea", value: "{Id}" }, { system: "http://hl7.org/fhir/sid/us-ssn", value: "{SSN}" }]
      name: [{ use: official, family: "{LAST}", given: ["{FIRST}"], prefix: ["{PREFIX}"] }]
      gender: { $lookup: gender, $column: GENDER }
      birthDate: { $column: BIRTHDATE, $as: date }
      deceasedDateTime: { $column: DEATHDATE, $as: dateTime }
      address: [{ line: ["{ADDRESS}"], city: "{CITY}", state: "{STATE}", postalCode: "{ZIP}", country: US }]
---
mapping: observation
source: { table: observations, key: [PATIENT, ENCOUNTER, CODE, DATE] }
resources:
  - resourceType: Observation
    when: "type = 'numeric'"
    template:
      status: final
      category: [{ coding: [{ system: http://terminology.hl7.org/CodeSystem/observation-category, code: "{CATEGORY}" }] }]
      code: { coding: [{ system: http://loinc.org, code: "{CODE}", display: "{DESCRIPTION}" }], text: "{DESCRIPTION}" }
      subject: { reference: { $ref: patient, $key: [PATIENT] } }
      effectiveDateTime: { $column: DATE, $as: dateTime }
      valueQuantity: { value: { $column: VALUE, $as: decimal }, unit: "{UNITS}", system: http://unitsofmeasure.org, code: "{UNITS}" }
`;

export interface BenchResult {
  mapping: string;
  engine: Engine;
  rows: number;
  ms: number;
  rowsPerSecond: number;
}

function patientRow(i: number): Row {
  return {
    id: `b9c610cd-28a6-4636-ccb6-${String(i).padStart(12, '0')}`,
    birthdate: '1968-05-23',
    deathdate: i % 10 === 0 ? '2019-01-02' : null,
    ssn: '999-52-8591',
    prefix: 'Mr.',
    first: 'Jose871',
    last: 'Gutiérrez115',
    race: i % 2 ? 'white' : 'black',
    gender: i % 2 ? 'M' : 'F',
    address: '427 Balistreri Way Unit 19',
    city: 'Chicopee',
    state: 'Massachusetts',
    zip: '01013',
  };
}

function observationRow(i: number): Row {
  return {
    date: `2014-05-06T08:${String(i % 60).padStart(2, '0')}:30Z`,
    patient: `b9c610cd-28a6-4636-ccb6-${String(i % 1000).padStart(12, '0')}`,
    encounter: `enc-${i}`,
    category: 'vital-signs',
    code: '8302-2',
    description: 'Body Height',
    value: `${150 + (i % 40)}.5`,
    units: 'cm',
    type: 'numeric',
  };
}

/** Maps `rows` synthetic rows through each mapping, with each engine, and reports throughput. */
export function benchMapping(rows = 200_000, timezone = 'America/New_York'): BenchResult[] {
  const out: BenchResult[] = [];
  for (const engine of ['compiled', 'interpreted'] as const) {
    const set = compileMappingSource(MAPPINGS, 'bench.yaml', { timezone, engine });
    for (const [name, make] of [
      ['patient', patientRow],
      ['observation', observationRow],
    ] as const) {
      const m = set.byName.get(name)!;
      // Rows are built beforehand so only `map` is measured; a warm-up lets the JIT settle.
      const input = Array.from({ length: Math.min(rows, 10_000) }, (_, i) => make(i));
      for (let i = 0; i < 20_000; i++) m.map(input[i % input.length]!);
      let sink = 0;
      const t0 = performance.now();
      for (let i = 0; i < rows; i++) sink += m.map(input[i % input.length]!).resources.length;
      const ms = performance.now() - t0;
      if (sink !== rows) throw new Error(`bench: expected one resource per row, got ${sink} for ${rows}`);
      out.push({ mapping: name, engine, rows, ms: Math.round(ms), rowsPerSecond: Math.round((rows / ms) * 1000) });
    }
  }
  return out;
}

/** A laboratory row of observations as the PostgreSQL adapter hands it over (lower-cased columns, text). */
function labRow(i: number): Row {
  const numeric = i % 5 !== 0;
  return {
    date: `2014-05-${String(1 + (Math.floor(i / 7) % 28)).padStart(2, '0')} 08:${String(Math.floor(i / 7) % 60).padStart(2, '0')}:30`,
    patient: `b9c610cd-28a6-4636-ccb6-${String(i % 1000).padStart(12, '0')}`,
    encounter: `e1c2c4b2-6b0c-4c2e-9f3a-${String(Math.floor(i / 7)).padStart(12, '0')}`,
    category: 'laboratory',
    code: `${718 + (i % 7)}-7`,
    description: 'Hemoglobin [Mass/volume] in Blood',
    value: numeric ? `${12 + (i % 40) / 10}` : i % 10 === 0 ? 'Negative' : 'Positive',
    units: numeric ? 'g/dL' : null,
    type: numeric ? 'numeric' : 'text',
    last_updated: '2024-01-01 00:00:00+00',
  };
}

export interface FloorInMemory {
  rows: number;
  /** best CPU ms of the repetitions: rows → resources → NDJSON text → UTF-8 chunks */
  cpuMs: { hand: number; compiled: number; interpreted: number };
  /** resources/s against the hand-written mapper (1 = as fast) */
  ratio: { compiled: number; interpreted: number };
}

/**
 * The shipped observation-lab mapping (each engine) against the hand-written mapper on `rows` rows in memory:
 * each maps every row and serialises it into 64 KiB UTF-8 chunks, as the NDJSON sink does. Best of `reps`.
 */
export async function benchObservationLabInMemory(rows = 80_000, reps = 5): Promise<FloorInMemory> {
  const input = Array.from({ length: rows }, (_, i) => labRow(i));
  const mapping = async (engine: Engine) =>
    (await loadMappingSet(SYNTHEA_MAPPINGS, { timezone: 'UTC', engine })).byName.get('observation-lab')!;
  const compiled = await mapping('compiled');
  const interpreted = await mapping('interpreted');
  let bytes = 0;
  const ndjson = (toResources: (row: Row) => object[]): void => {
    let chunk = '';
    for (const row of input) {
      for (const r of toResources(row)) chunk += JSON.stringify(r) + '\n';
      if (chunk.length >= 65_536) {
        bytes += Buffer.from(chunk, 'utf8').length;
        chunk = '';
      }
    }
    bytes += Buffer.from(chunk, 'utf8').length;
  };
  const cases = {
    hand: () => ndjson((row) => [observationLab(row)]),
    compiled: () => ndjson((row) => compiled.map(row).resources),
    interpreted: () => ndjson((row) => interpreted.map(row).resources),
  };
  const best = { hand: Number.POSITIVE_INFINITY, compiled: Number.POSITIVE_INFINITY, interpreted: Number.POSITIVE_INFINITY };
  for (let rep = 0; rep < reps; rep++) {
    for (const name of ['hand', 'compiled', 'interpreted'] as const) {
      const c0 = process.cpuUsage();
      cases[name]();
      const c = process.cpuUsage(c0);
      best[name] = Math.min(best[name], (c.user + c.system) / 1000);
    }
  }
  if (bytes === 0) throw new Error('bench: nothing was serialised');
  const round = (n: number): number => Math.round(n * 100) / 100;
  return {
    rows,
    cpuMs: { hand: Math.round(best.hand), compiled: Math.round(best.compiled), interpreted: Math.round(best.interpreted) },
    ratio: { compiled: round(best.hand / best.compiled), interpreted: round(best.hand / best.interpreted) },
  };
}
