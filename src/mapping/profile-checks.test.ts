// Mapping-time profile checks: what the declared profile's snapshot forbids or fixes, and a template
// contradicts with constants, is a compile error at the template's line:col (before any row is read).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../test/support/run-cli.js';
import { compile, compileErrors, posOf } from '../../test/support/compile-text.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';

const mapping = (resourceType: string, profile: string, template: string) => `mapping: m
source: { table: t, key: [ID] }
children:
  lines: { table: l, on: { PID: ID } }
resources:
  - resourceType: ${resourceType}
    profile: ${profile}
    template:
${template}
`;
const eob = (profile: string, template: string) => mapping('ExplanationOfBenefit', `${C4BB}${profile}|2.0.0`, template);
const bodyWeight = (template: string) => mapping('Observation', `${US_CORE}us-core-body-weight`, template);

function expectError(text: string, marker: string, message: RegExp, nth = 0): void {
  expect(compileErrors(text)).toContainEqual({ ...posOf(text, marker, nth), message: expect.stringMatching(message) });
}

const PATIENT_WEIGHT = `{ coding: [{ system: http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType, code: patientweight }] }`;

describe('an element the profile forbids (max 0)', () => {
  it('inside the slice a template item certainly belongs to (its constant discriminator matches)', () => {
    const text = eob(
      'C4BB-ExplanationOfBenefit-Professional-NonClinician',
      `      supportingInfo:
        - sequence: 1
          category: ${PATIENT_WEIGHT}
          timingDate: { $column: D, $as: date }
          valueQuantity: { value: { $column: W, $as: decimal } }`,
    );
    expectError(
      text,
      'timingDate',
      /^ExplanationOfBenefit\.supportingInfo\.timingDate is not allowed by profile C4BB-ExplanationOfBenefit-Professional-NonClinician\|2\.0\.0 in its patientweight slice \(ExplanationOfBenefit\.supportingInfo:patientweight\.timing\[x\] has max 0\)$/,
    );
    // the same in an item made per child row
    const each = eob(
      'C4BB-ExplanationOfBenefit-Professional-NonClinician',
      `      supportingInfo:
        $each: lines
        $template: { sequence: { $column: S, $as: positiveInt }, category: ${PATIENT_WEIGHT}, code: { text: "{C}" } }`,
    );
    expectError(
      each,
      'code: { text',
      /^ExplanationOfBenefit\.supportingInfo\.code is not allowed by profile .* in its patientweight slice/,
    );
  });

  it('not when the item may be of another slice (its category comes from a column) or is of a slice that allows it', () => {
    const fromColumn = eob(
      'C4BB-ExplanationOfBenefit-Professional-NonClinician',
      `      supportingInfo:
        - sequence: 1
          category: { coding: [{ system: http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType, code: "{CAT}" }] }
          timingDate: { $column: D, $as: date }`,
    );
    expect(() => compile(fromColumn)).not.toThrow();
    const received = eob(
      'C4BB-ExplanationOfBenefit-Professional-NonClinician',
      `      supportingInfo:
        - sequence: 1
          category: { coding: [{ system: http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType, code: clmrecvddate }] }
          timingDate: { $column: D, $as: date }`,
    );
    expect(() => compile(received)).not.toThrow();
  });
});

describe('a choice type the profile does not allow', () => {
  it('is an error at the element name', () => {
    const text = bodyWeight(`      status: final
      effectiveInstant: { $column: T, $as: instant }`);
    expectError(
      text,
      'effectiveInstant',
      /^Observation\.effectiveInstant: profile us-core-body-weight\|6\.1\.0 allows effective\[x\] only as dateTime, Period$/,
    );
  });
});

describe('a constant value contradicting a fixed or pattern value', () => {
  it('a primitive (C4BB EOB use is fixed to claim), in every branch of $if', () => {
    expectError(
      eob('C4BB-ExplanationOfBenefit-Pharmacy', '      use: preauthorization'),
      'preauthorization',
      /^ExplanationOfBenefit\.use: profile C4BB-ExplanationOfBenefit-Pharmacy\|2\.0\.0 fixes ExplanationOfBenefit\.use to "claim", which this constant value cannot match$/,
    );
    expectError(
      eob('C4BB-ExplanationOfBenefit-Pharmacy', '      use: { $if: "x.exists()", $then: claim, $else: predetermination }'),
      'predetermination',
      /fixes ExplanationOfBenefit\.use to "claim"/,
    );
  });

  it('a CodeableConcept pattern (an Inpatient EOB typed professional, a body weight coded as height)', () => {
    const text = eob(
      'C4BB-ExplanationOfBenefit-Inpatient-Institutional',
      `      type: { coding: [{ system: http://terminology.hl7.org/CodeSystem/claim-type, code: professional }] }
      subType: { coding: [{ system: http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBInstitutionalClaimSubType, code: inpatient }] }`,
    );
    expectError(
      text,
      '{ coding: [{ system: http://terminology.hl7.org/CodeSystem/claim-type',
      /^ExplanationOfBenefit\.type: profile C4BB-ExplanationOfBenefit-Inpatient-Institutional\|2\.0\.0 fixes ExplanationOfBenefit\.type to \{"coding":\[\{"system":"http:\/\/terminology\.hl7\.org\/CodeSystem\/claim-type","code":"institutional"\}\]\}/,
    );
    expect(compileErrors(text)).toHaveLength(1); // the subType matches its pattern
    expectError(
      bodyWeight('      code: { coding: [{ system: http://loinc.org, code: "8302-2" }], text: Body height }'),
      '{ coding: [{ system: http://loinc.org',
      /^Observation\.code: profile us-core-body-weight\|6\.1\.0 fixes Observation\.code to \{"coding":\[\{"system":"http:\/\/loinc\.org","code":"29463-7"\}\]\}/,
    );
  });

  it('a fixed value inside a type slice (valueQuantity) and inside a slice the item belongs to (blood pressure components)', () => {
    expectError(
      bodyWeight('      valueQuantity: { value: { $column: W, $as: decimal }, unit: kg, system: http://example.org/units, code: kg }'),
      'http://example.org/units',
      /^Observation\.valueQuantity\.system: profile us-core-body-weight\|6\.1\.0 fixes Observation\.value\[x\]:valueQuantity\.system to "http:\/\/unitsofmeasure\.org"/,
    );
    const bp = mapping(
      'Observation',
      `${US_CORE}us-core-blood-pressure`,
      `      component:
        - code: { coding: [{ system: http://loinc.org, code: "8480-6" }] }
          valueQuantity: { value: { $column: SYS, $as: decimal }, unit: mmHg, system: http://unitsofmeasure.org, code: mmHg }
        - code: { coding: [{ system: http://loinc.org, code: "8462-4" }] }
          valueQuantity: { value: { $column: DIA, $as: decimal }, unit: mmHg, system: http://unitsofmeasure.org, code: "mm[Hg]" }`,
    );
    const errors = compileErrors(bp);
    expect(errors).toEqual([
      {
        ...posOf(bp, 'mmHg }'),
        message: expect.stringMatching(
          /^Observation\.component\.valueQuantity\.code: profile us-core-blood-pressure\|6\.1\.0 fixes Observation\.component:systolic\.value\[x\]\.code to "mm\[Hg\]"/,
        ),
      },
    ]);
  });

  it('leaves what depends on the row to export-time validation, and accepts what matches', () => {
    const ok = eob(
      'C4BB-ExplanationOfBenefit-Inpatient-Institutional',
      `      use: claim
      type: { coding: [{ system: http://terminology.hl7.org/CodeSystem/claim-type, code: "{TYPE}" }] }
      subType: { coding: [{ system: http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBInstitutionalClaimSubType, code: inpatient, display: Inpatient }], text: x }`,
    );
    expect(() => compile(ok)).not.toThrow();
    expect(() => compile(eob('C4BB-ExplanationOfBenefit-Pharmacy', '      use: { $column: USE }'))).not.toThrow();
    expect(() => compile(eob('C4BB-ExplanationOfBenefit-Pharmacy', '      type: { $fhirpath: "type" }'))).not.toThrow();
  });
});

describe('which profiles are checked', () => {
  it('each declared profile with a known snapshot; an unknown profile or another version is left to export time', () => {
    const both = mapping(
      'Observation',
      `[${US_CORE}us-core-vital-signs, ${US_CORE}us-core-body-weight]`,
      '      code: { coding: [{ system: http://loinc.org, code: "8302-2" }] }',
    );
    expect(compileErrors(both).map((e) => e.message)).toEqual([
      expect.stringMatching(/^Observation\.code: profile us-core-body-weight\|6\.1\.0/),
    ]);
    expect(() =>
      compile(mapping('ExplanationOfBenefit', 'http://example.org/StructureDefinition/my-eob', '      use: preauthorization')),
    ).not.toThrow();
    expect(() => compile(eob('C4BB-ExplanationOfBenefit-Pharmacy', '      use: claim').replace('|2.0.0', '|1.0.0'))).not.toThrow();
    expect(() =>
      compile(mapping('ExplanationOfBenefit', `${C4BB}C4BB-ExplanationOfBenefit-Pharmacy|1.0.0`, '      use: preauthorization')),
    ).not.toThrow();
  });

  it('an element the resource type does not have is reported as before (unknown element), once', () => {
    const text = eob('C4BB-ExplanationOfBenefit-Pharmacy', '      revenueCode: x');
    expect(compileErrors(text)).toEqual([
      { ...posOf(text, 'revenueCode'), message: expect.stringMatching(/^unknown element "revenueCode" in ExplanationOfBenefit/) },
    ]);
  });
});

describe('fhir-bridge validate on a mapping file', () => {
  it('lists each problem at file:line:col and exits 1, before any row is read', async () => {
    const folder = path.join(ROOT, 'test/fixtures/profile-checks');
    const file = path.join(folder, 'eob-professional.yaml');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const at = (marker: string) => {
      const line = lines.findIndex((l) => l.includes(marker) && !l.trimStart().startsWith('#'));
      return `${file}:${line + 1}:${lines[line]!.indexOf(marker) + 1}`;
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'profile-checks-'));
    try {
      const connector = path.join(dir, 'connector.yaml');
      await writeFile(
        connector,
        `name: pc\nkind: csv\npath: ${path.join(ROOT, 'samples/synthea-11pt/csv')}\ntimezone: UTC\nmappings:\n  - ${folder}\n`,
      );
      const { code, err } = await runCli('validate', '--connector', connector);
      expect(code).toBe(1);
      const errors = err.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors).toEqual([
        // the R4 element check comes first, then the profile's
        expect.stringContaining(`${at('revenueCode')}: unknown element "revenueCode" in ExplanationOfBenefit`),
        expect.stringContaining(
          `${at('predetermination')}: ExplanationOfBenefit.use: profile C4BB-ExplanationOfBenefit-Professional-NonClinician|2.0.0 fixes`,
        ),
        expect.stringContaining(`${at('timingDate')}: ExplanationOfBenefit.supportingInfo.timingDate is not allowed by profile`),
        expect.stringContaining(
          `${at('valueString')}: ExplanationOfBenefit.supportingInfo.valueString: profile C4BB-ExplanationOfBenefit-Professional-NonClinician|2.0.0 allows value[x] only as Quantity`,
        ),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
