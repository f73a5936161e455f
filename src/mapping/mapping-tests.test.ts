import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatMappingTestReport, runMappingTests } from './index.js';
import { posOf } from '../../test/support/compile-text.js';

const MAPPING = `mapping: patient
source: { table: patients, key: Id }
lookups:
  gender: { map: { M: male, F: female } }
resources:
  - resourceType: Patient
    id: "{Id}"
    template:
      gender: { $lookup: gender, $column: GENDER }
      birthDate: { $column: BIRTHDATE, $as: date }
      name: [{ family: "{LAST}", given: ["{FIRST}"] }]
`;

function folder(tests: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-bridge-mtest-'));
  writeFileSync(join(dir, 'patient.yaml'), MAPPING);
  writeFileSync(join(dir, 'patient.test.yaml'), tests);
  return dir;
}

describe('runMappingTests', () => {
  it('passes matching cases, fails others with the test file location and a path diff', async () => {
    const tests = `mapping: patient
cases:
  - name: ok
    row: { Id: p1, GENDER: F, BIRTHDATE: 1950-01-02, LAST: Doe }
    expect:
      - { resourceType: Patient, id: p1, gender: female, birthDate: "1950-01-02", name: [{ family: Doe }] }
  - name: wrong gender
    row: { Id: p1, GENDER: M, BIRTHDATE: 1950-01-02 }
    expect:
      - resourceType: Patient
        id: p1
        gender: female
        birthDate: "1950-01-02"
  - name: subset is enough
    compare: subset
    row: { Id: p2, GENDER: M, BIRTHDATE: 1950-01-02, LAST: Roe, FIRST: Ann }
    expect: [{ resourceType: Patient, gender: male }]
  - name: bad date gives a value issue
    row: { Id: p3, GENDER: M, BIRTHDATE: yesterday }
    expect: []
    issues: [{ code: value, column: BIRTHDATE }]
  - name: unexpected issue fails
    row: { Id: p4, GENDER: X }
    expect: []
`;
    const dir = folder(tests);
    const report = await runMappingTests([dir]);
    expect(report.cases.map((c) => [c.name, c.passed])).toEqual([
      ['ok', true],
      ['wrong gender', false],
      ['subset is enough', true],
      ['bad date gives a value issue', true],
      ['unexpected issue fails', false],
    ]);
    expect(report.passed).toBe(3);
    expect(report.failed).toBe(2);
    const wrong = report.cases[1]!;
    const file = join(dir, 'patient.test.yaml');
    const at = posOf(tests, 'female', 1);
    expect(wrong.failure!.split('\n')[0]).toBe(`${file}:${at.line}:${at.column}: wrong gender`);
    expect(wrong.failure).toContain('expect[0].gender: expected "female", got "male"');
    expect(report.cases[4]!.failure).toMatch(/unexpected issue code-invalid \(column gender\)/);
    expect(formatMappingTestReport(report)).toMatch(/3 passed, 2 failed/);
  });

  it('exact comparison reports extra fields; wrong counts are reported', async () => {
    const dir = folder(`mapping: patient
cases:
  - name: extra
    row: { Id: p1, GENDER: F, BIRTHDATE: 1950-01-02 }
    expect: [{ resourceType: Patient, id: p1, gender: female }]
  - name: count
    row: { Id: p1, GENDER: F }
    expect: []
`);
    const report = await runMappingTests([dir]);
    expect(report.cases[0]!.failure).toContain('unexpected birthDate: "1950-01-02"');
    expect(report.cases[1]!.failure).toMatch(/expected 0 resource\(s\), got 1: Patient\/p1/);
  });

  it('an unknown mapping name is an error located at the name', async () => {
    const tests = 'mapping: patinet\ncases:\n  - { name: x, row: { Id: a }, expect: [] }\n';
    const report = await runMappingTests([folder(tests)]);
    expect(report.errors[0]!.detail).toMatch(/unknown mapping "patinet": expected one of patient/);
    expect(report.errors[0]!.location).toMatchObject(posOf(tests, 'patinet'));
    expect(report.failed).toBe(1);
  });
});
