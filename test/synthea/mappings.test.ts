// The Synthea mapping set compiles, and the cases of its mapping unit tests (*.test.yaml beside the
// mappings, format in mappings/README.md "Mapping tests") hold: each row becomes exactly the expected
// resources and raises exactly the expected issues.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMappingSet, runMappingTests } from '../../src/mapping/index.js';
import type { CompiledMappingSet } from '../../src/mapping/types.js';

const MAPPINGS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../mappings/synthea');

interface TestCase {
  name: string;
  row: Record<string, unknown>;
  children?: Record<string, Array<Record<string, unknown>>>;
  expect: unknown[];
  issues?: Array<{ code: string; column?: string }>;
}

const lowerKeys = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v]));

const testFiles = readdirSync(MAPPINGS)
  .filter((f) => f.endsWith('.test.yaml'))
  .sort();

let set: CompiledMappingSet;
beforeAll(async () => {
  set = await loadMappingSet([MAPPINGS], { timezone: 'UTC' });
});

describe('mappings/synthea', () => {
  it('compiles and emits the US Core resource types', () => {
    expect([...set.resourceTypes].sort()).toEqual([
      'AllergyIntolerance',
      'CarePlan',
      'CareTeam',
      'Condition',
      'Device',
      'DiagnosticReport',
      'Encounter',
      'ImagingStudy',
      'Immunization',
      'Location',
      'MedicationRequest',
      'Observation',
      'Organization',
      'Patient',
      'Practitioner',
      'Procedure',
      'Provenance',
      'SupplyDelivery',
    ]);
  });

  it('follows mappings/mapping.schema.json (what editors check)', () => {
    const schema = JSON.parse(readFileSync(path.join(MAPPINGS, '..', 'mapping.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    const problems = readdirSync(MAPPINGS)
      .filter((f) => f.endsWith('.yaml') && !f.endsWith('.test.yaml'))
      .flatMap((f) =>
        parseAllDocuments(readFileSync(path.join(MAPPINGS, f), 'utf8')).flatMap((doc) =>
          validate(doc.toJS({ maxAliasCount: 100 })) ? [] : (validate.errors ?? []).map((e) => `${f}${e.instancePath}: ${e.message}`),
        ),
      );
    expect(problems).toEqual([]);
  });

  it('has a mapping test file for every mapping', () => {
    const tested = new Set(testFiles.map((f) => (parse(readFileSync(path.join(MAPPINGS, f), 'utf8')) as { mapping: string }).mapping));
    expect(set.mappings.map((m) => m.name).filter((n) => !tested.has(n))).toEqual([]);
  });

  it("passes its mapping tests through the engine's runner (what `fhir-bridge test` runs)", async () => {
    const report = await runMappingTests([MAPPINGS]);
    expect(report.errors.map((e) => e.message)).toEqual([]);
    expect(report.cases.filter((c) => !c.passed).map((c) => c.failure)).toEqual([]);
    expect(report.passed).toBe(
      testFiles.reduce((n, f) => n + (parse(readFileSync(path.join(MAPPINGS, f), 'utf8')) as { cases: unknown[] }).cases.length, 0),
    );
  });

  // The same cases checked directly against CompiledMapping.map, so a runner bug cannot hide a mapping bug.
  for (const file of testFiles) {
    const spec = parse(readFileSync(path.join(MAPPINGS, file), 'utf8')) as { mapping: string; cases: TestCase[] };
    describe(file, () => {
      for (const c of spec.cases) {
        it(c.name, () => {
          const mapping = set.byName.get(spec.mapping);
          expect(mapping, `mapping ${spec.mapping}`).toBeDefined();
          const children = c.children
            ? Object.fromEntries(Object.entries(c.children).map(([k, rows]) => [k, rows.map(lowerKeys)]))
            : undefined;
          const result = mapping!.map(lowerKeys(c.row), children);
          expect(result.resources).toEqual(c.expect);
          const got = result.issues.map((i) => ({ code: i.code, column: i.column?.toLowerCase() }));
          const want = (c.issues ?? []).map((i) => ({ code: i.code, column: i.column?.toLowerCase() }));
          expect(got).toEqual(want);
        });
      }
    });
  }
});
