// No false negatives: official examples broken in one place each get exactly the expected error (code and
// FHIRPath location) and no other error.
import { beforeAll, describe, expect, it } from 'vitest';
import { example, sharedValidator } from '../../test/support/validation.js';
import { mustSupportCoverage } from './must-support.js';
import type { FhirJson } from './package-loader.js';
import type { ValidationIssue } from './types.js';
import type { ProfileValidator } from './validator.js';

type Json = Record<string, any>;

let validator: ProfileValidator;
beforeAll(async () => {
  validator = await sharedValidator();
});

const errors = (issues: ValidationIssue[]) =>
  issues.filter((i) => i.severity === 'error').map((i) => ({ code: i.code, expression: i.expression }));

interface Case {
  name: string;
  file: string;
  breakIt: (r: Json) => void;
  expected: Array<{ code: string; expression: string }>;
  /** the key of a broken invariant */
  key?: string;
}

const US_CORE_PATIENT = 'example/Patient-example.json';
const BLOOD_PRESSURE = 'example/Observation-blood-pressure.json';

const cases: Case[] = [
  {
    name: 'missing required element (US Core Patient without identifier)',
    file: US_CORE_PATIENT,
    breakIt: (r) => delete r.identifier,
    expected: [{ code: 'required', expression: 'Patient.identifier' }],
  },
  {
    name: 'missing required element inside a datatype (identifier without system)',
    file: US_CORE_PATIENT,
    breakIt: (r) => delete r.identifier[0].system,
    expected: [{ code: 'required', expression: 'Patient.identifier[0].system' }],
  },
  {
    name: 'bad code in a required binding (gender: banana)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.gender = 'banana'),
    expected: [{ code: 'code-invalid', expression: 'Patient.gender' }],
  },
  {
    name: 'wrong primitive type (active: "Ann")',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.active = 'Ann'),
    expected: [{ code: 'value', expression: 'Patient.active' }],
  },
  {
    name: 'bad primitive format (month 13)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.birthDate = '2024-13-01'),
    expected: [{ code: 'value', expression: 'Patient.birthDate' }],
  },
  {
    name: 'bad primitive format (no such day: 2024-02-31)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.birthDate = '2024-02-31'),
    expected: [{ code: 'value', expression: 'Patient.birthDate' }],
  },
  {
    name: 'unknown element',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.nickname = 'Ann'),
    expected: [{ code: 'structure', expression: 'Patient.nickname' }],
  },
  {
    name: 'a single value where the element repeats',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.name = r.name[0]),
    expected: [{ code: 'structure', expression: 'Patient.name' }],
  },
  {
    name: 'broken invariant (us-core-6: a name with neither family nor given)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.name = [{ text: 'Amy Shaw' }]),
    expected: [{ code: 'invariant', expression: 'Patient.name[0]' }],
    key: 'us-core-6',
  },
  {
    name: 'broken base invariant (per-1: a period that ends before it starts)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.identifier[0].period = { start: '2020-01-02', end: '2019-01-01' }),
    expected: [{ code: 'invariant', expression: 'Patient.identifier[0].period' }],
    key: 'per-1',
  },
  {
    name: 'wrong reference target (an Observation subject that is a Practitioner)',
    file: BLOOD_PRESSURE,
    breakIt: (r) => (r.subject = { reference: 'Practitioner/123' }),
    expected: [{ code: 'structure', expression: 'Observation.subject.reference' }],
  },
  {
    name: 'wrong fixed value (systolic unit mmHg instead of mm[Hg])',
    file: BLOOD_PRESSURE,
    breakIt: (r) => (r.component[0].valueQuantity.code = 'mmHg'),
    expected: [{ code: 'value', expression: 'Observation.component[0].value.ofType(Quantity).code' }],
  },
  {
    name: 'wrong pattern value (blood pressure code not 85354-9)',
    file: BLOOD_PRESSURE,
    breakIt: (r) => (r.code.coding[0].code = '85353-1'),
    expected: [{ code: 'value', expression: 'Observation.code' }],
  },
  {
    name: 'missing required slice (no vital-signs category)',
    file: BLOOD_PRESSURE,
    breakIt: (r) => (r.category[0].coding[0].code = 'laboratory'),
    expected: [{ code: 'required', expression: 'Observation.category' }],
  },
  {
    name: 'missing required slice (no diastolic component)',
    file: BLOOD_PRESSURE,
    breakIt: (r) => r.component.pop(),
    // component has min 2 in the profile, and the diastolic slice min 1
    expected: [
      { code: 'required', expression: 'Observation.component' },
      { code: 'required', expression: 'Observation.component' },
    ],
  },
  {
    name: 'choice type the definition does not allow (deceasedString)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.deceasedString = 'yes'),
    expected: [{ code: 'structure', expression: 'Patient.deceasedString' }],
  },
  {
    name: 'value type an extension profile does not allow (birthsex as valueString)',
    file: US_CORE_PATIENT,
    breakIt: (r) => {
      r.extension[3].valueString = r.extension[3].valueCode;
      delete r.extension[3].valueCode;
    },
    // the profile's value[x] (code only) is then missing too
    expected: [
      { code: 'required', expression: 'Patient.extension[3].value' },
      { code: 'structure', expression: 'Patient.extension[3].valueString' },
    ],
  },
  {
    name: 'required element of an extension slice (race ombCategory without its value)',
    file: US_CORE_PATIENT,
    breakIt: (r) => delete r.extension[0].extension[0].valueCoding,
    expected: [
      { code: 'required', expression: 'Patient.extension[0].extension[0].value' },
      { code: 'invariant', expression: 'Patient.extension[0].extension[0]' },
    ],
    key: 'ext-1',
  },
  {
    name: 'bad code in a required binding inside a datatype (telecom system: pager2)',
    file: US_CORE_PATIENT,
    breakIt: (r) => (r.telecom[0].system = 'pager2'),
    expected: [{ code: 'code-invalid', expression: 'Patient.telecom[0].system' }],
  },
];

describe('deliberately broken resources', () => {
  it.each(cases)('$name', async ({ file, breakIt, expected, key }) => {
    const original = await example(file);
    const baseline = validator.validate(original);
    expect(errors(baseline)).toEqual([]);
    const broken = structuredClone(original) as Json;
    breakIt(broken);
    const issues = validator.validate(broken as FhirJson);
    expect(errors(issues)).toEqual(expected);
    if (key) expect(issues.filter((i) => i.code === 'invariant').map((i) => i.key)).toEqual([key]);
    // every error names the profile it comes from
    for (const i of issues.filter((x) => x.severity === 'error'))
      expect(i.profile).toMatch(/^http:\/\/hl7\.org\/fhir\/us\/core\/StructureDefinition\//);
  });

  it('a C4BB EOB with only status and patient (issue 14) misses every required element', async () => {
    const eob = await example('example/ExplanationOfBenefit-EOBInpatient1.json');
    const bare = { resourceType: 'ExplanationOfBenefit', meta: eob.meta, status: 'active', patient: eob.patient };
    const missing = errors(validator.validate(bare))
      .filter((e) => e.code === 'required')
      .map((e) => e.expression);
    for (const element of ['identifier', 'type', 'use', 'created', 'insurer', 'provider', 'outcome', 'insurance', 'total']) {
      expect(missing).toContain(`ExplanationOfBenefit.${element}`);
    }
  });

  it('an unknown profile is a warning and the base definition still applies', () => {
    const issues = validator.validate({ resourceType: 'Patient', gender: 'banana' }, 'http://example.org/StructureDefinition/nope');
    expect(issues.map((i) => [i.severity, i.code, i.expression])).toEqual([
      ['warning', 'not-supported', 'Patient'],
      ['error', 'code-invalid', 'Patient.gender'],
    ]);
  });

  it('a resource without meta.profile is checked against its base resource type', () => {
    const issues = validator.validate({ resourceType: 'Observation', status: 'final' });
    expect(errors(issues)).toEqual([{ code: 'required', expression: 'Observation.code' }]);
    expect(issues[0]!.profile).toBe('http://hl7.org/fhir/StructureDefinition/Observation');
  });

  it('what is not a resource is one structure error', () => {
    expect(errors(validator.validate({ resourceType: 'Banana' }))).toEqual([{ code: 'structure', expression: 'Banana' }]);
    expect(errors(validator.validate('Patient'))).toEqual([{ code: 'structure', expression: '' }]);
  });
});

describe('must-support coverage', () => {
  it('counts, per profile, the resources that populate each must-support element and slice', async () => {
    const patient = await example(US_CORE_PATIENT);
    const { telecom: _telecom, ...withoutTelecom } = patient as Json;
    const bp = await example(BLOOD_PRESSURE);
    const { coverage, issues } = mustSupportCoverage(validator, [patient, withoutTelecom, bp]);
    expect(issues.filter((i) => i.severity === 'error')).toEqual([]);
    const row = (profile: string, element: string) => coverage.rows().find((r) => r.profile.endsWith(profile) && r.element === element);
    expect(row('us-core-patient', 'Patient.telecom.system')).toMatchObject({ populated: 1, total: 2 });
    expect(row('us-core-patient', 'Patient.identifier')).toMatchObject({ populated: 2, total: 2 });
    expect(row('us-core-blood-pressure', 'Observation.component:diastolic')).toMatchObject({ populated: 1, total: 1 });
    // a must-support element nobody populates is listed with 0
    expect(row('us-core-blood-pressure', 'Observation.dataAbsentReason')).toMatchObject({ populated: 0, total: 1 });
    expect(coverage.totals().get('http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient')).toBe(2);
  });
});
