// Mapping-time type checks: a value its element can never hold is a compile error at the value's line.
import { describe, expect, it } from 'vitest';
import { compile, compileErrors, posOf } from '../../test/support/compile-text.js';

const patient = (template: string) => `mapping: m
source: { table: t, key: [ID] }
children:
  names: { table: n, on: { PID: ID } }
resources:
  - resourceType: Patient
    template:
${template}
`;

function expectError(text: string, marker: string, message: RegExp): void {
  expect(compileErrors(text)).toContainEqual({ ...posOf(text, marker), message: expect.stringMatching(message) });
}

describe('values checked against their element type at compile time', () => {
  it('a text template into a boolean or a number', () => {
    expectError(
      patient('      active: "{NAME}"'),
      '"{NAME}"',
      /^Patient\.active is a boolean: the text template "\{NAME\}" always yields a string \(write \{ \$column: NAME, \$as: boolean \}/,
    );
    expectError(patient('      multipleBirthInteger: "{N}"'), '"{N}"', /^Patient\.multipleBirthInteger is a integer: the text template/);
  });

  it('a literal of the wrong kind or format', () => {
    expectError(patient('      active: "yes"'), '"yes"', /^Patient\.active is a boolean: "yes" is a string/);
    expectError(patient('      gender: true'), 'true', /^Patient\.gender is a code: true is a boolean/);
    expectError(patient('      birthDate: 2024-13-01'), '2024-13-01', /^Patient\.birthDate is a date: "2024-13-01" is not a valid date/);
    expectError(patient('      gender: " male"'), '" male"', /is not a valid code/);
  });

  it('an $as type the element cannot hold, in any branch of $if / $first / $each', () => {
    expectError(patient('      active: { $column: A, $as: date }'), 'date }', /^Patient\.active is a boolean: \$as: date yields a date/);
    expectError(patient('      birthDate: { $column: B, $as: dateTime }'), 'dateTime', /^Patient\.birthDate is a date: \$as: dateTime/);
    expectError(patient('      active: { $if: "x.exists()", $then: "{X}", $else: false }'), '"{X}"', /Patient\.active is a boolean/);
    expectError(patient('      deceasedBoolean: { $first: [{ $column: D, $as: instant }] }'), 'instant', /deceasedBoolean is a boolean/);
    expectError(
      patient('      name: [{ given: { $each: names, $template: { $column: G, $as: integer } } }]'),
      'integer',
      /^Patient\.name\.given is a string: \$as: integer/,
    );
  });

  it('a scalar where the element is an object', () => {
    expectError(
      patient('      maritalStatus: M'),
      'M\n',
      /^Patient\.maritalStatus is a CodeableConcept, an object: "M" cannot be one \(write \{ coding/,
    );
  });

  it('accepts what can be right, and leaves what depends on the row to export-time validation', () => {
    const ok = patient(`      active: true
      gender: "{G}"
      birthDate: { $column: B, $as: date }
      deceasedDateTime: { $column: D, $as: dateTime }
      multipleBirthInteger: { $column: N, $as: integer }
      identifier: [{ system: urn:example, value: "{ID}" }]
      name: [{ family: "{F}", given: { $each: names, $template: "{G}" } }]
      maritalStatus: { coding: [{ system: http://terminology.hl7.org/CodeSystem/v3-MaritalStatus, code: { $column: M } }] }
      extension: [{ url: http://example.org/x, valueString: { $fhirpath: "x" } }]`);
    expect(() => compile(ok)).not.toThrow();
  });
});
