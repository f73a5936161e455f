// Micro benchmark of the mapping hot path (`map`) on Synthea-shaped rows: a US Core-like Patient (lookups,
// dates, templates, hash-free id) and an Observation with a hash id, $ref, dateTime in a zone and a
// decimal. `BENCH=200000 npx vitest run bench/mapping.test.ts` prints rows/s per mapping; no I/O is involved.
import { compileMappingSource } from '../src/mapping/index.js';
import type { Row } from '../src/connectors/types.js';

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

/** Maps `rows` synthetic rows through each mapping and reports throughput. */
export function benchMapping(rows = 200_000, timezone = 'America/New_York'): BenchResult[] {
  const set = compileMappingSource(MAPPINGS, 'bench.yaml', { timezone });
  const out: BenchResult[] = [];
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
    out.push({ mapping: name, rows, ms: Math.round(ms), rowsPerSecond: Math.round((rows / ms) * 1000) });
  }
  return out;
}
