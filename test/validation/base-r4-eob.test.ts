// The Synthea claims EOBs claim no profile (mappings/synthea-claims/eob.yaml: Synthea's SNOMED CT / RxNorm
// codes cannot meet the CARIN BB bindings), so export-time validation checks them against the R4 base
// ExplanationOfBenefit. That is still a real check: an EOB of the sample, one of each claim kind, validates;
// broken in one place it fails with exactly that error (base cardinality, required bindings, primitive
// formats, base invariants, unknown elements); and the same EOB claiming its C4BB profile fails on the code
// bindings, which is why it claims none.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedValidator } from '../../src/pipeline/validate-resource.js';
import type { ProfileValidator, ValidationIssue } from '../../src/validation/index.js';
import { kindOf } from '../claims/synthea-expected.js';
import { exportConnector } from '../synthea/collect-export.js';

type Json = Record<string, any>;
const ROOT = path.resolve(import.meta.dirname, '../..');
const R4_EOB = 'http://hl7.org/fhir/StructureDefinition/ExplanationOfBenefit';
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-';

let validator: ProfileValidator;
/** claim kind → the first EOB of that kind the sample exports */
const byKind = new Map<string, Json>();

beforeAll(async () => {
  validator = await sharedValidator();
  const out = await exportConnector(path.join(ROOT, 'connectors/synthea-sqlite.yaml'), { types: ['ExplanationOfBenefit'] }, [
    path.join(ROOT, 'mappings/synthea-claims'),
  ]);
  for (const eob of out.resources as Json[]) if (!byKind.has(kindOf(eob))) byKind.set(kindOf(eob), eob);
}, 300_000);

const errors = (issues: ValidationIssue[]) =>
  issues.filter((i) => i.severity === 'error').map((i) => ({ code: i.code, expression: i.expression, profile: i.profile }));

/** An inpatient EOB of the sample (it has items with adjudications, procedures and an admission period). */
function inpatient(): Json {
  const eob = byKind.get('inpatient');
  if (!eob) throw new Error('the sample has no inpatient claim');
  return structuredClone(eob);
}

describe('Synthea claims EOBs against the R4 base ExplanationOfBenefit', () => {
  it('exports every claim kind, each valid against base R4 and only against it', () => {
    expect([...byKind.keys()].sort()).toEqual(['inpatient', 'outpatient', 'pharmacy', 'professional']);
    for (const [kind, eob] of byKind) {
      expect(eob.meta?.profile, kind).toBeUndefined();
      const issues = validator.validate(eob);
      expect(errors(issues), kind).toEqual([]);
      expect(new Set(issues.map((i) => i.profile)), kind).toEqual(new Set([R4_EOB]));
    }
  });

  const cases: Array<{ name: string; breakIt: (eob: Json) => void; expected: Array<{ code: string; expression: string }>; key?: string }> =
    [
      {
        name: 'a required element missing (insurance, 1..*)',
        breakIt: (e) => delete e.insurance,
        expected: [{ code: 'required', expression: 'ExplanationOfBenefit.insurance' }],
      },
      {
        name: 'a required element missing inside a backbone element (adjudication.category)',
        breakIt: (e) => delete e.item[0].adjudication[0].category,
        expected: [{ code: 'required', expression: 'ExplanationOfBenefit.item[0].adjudication[0].category' }],
      },
      {
        name: 'a code outside a required binding (status)',
        breakIt: (e) => (e.status = 'paid'),
        expected: [{ code: 'code-invalid', expression: 'ExplanationOfBenefit.status' }],
      },
      {
        name: 'a code outside a required binding (outcome)',
        breakIt: (e) => (e.outcome = 'done'),
        expected: [{ code: 'code-invalid', expression: 'ExplanationOfBenefit.outcome' }],
      },
      {
        name: 'a bad primitive (item sequence 0 is not a positiveInt)',
        breakIt: (e) => (e.item[0].sequence = 0),
        expected: [{ code: 'value', expression: 'ExplanationOfBenefit.item[0].sequence' }],
      },
      {
        name: 'a base invariant (per-1: the billable period ends before it starts)',
        breakIt: (e) => (e.billablePeriod.end = '1970-01-01T00:00:00+00:00'),
        expected: [{ code: 'invariant', expression: 'ExplanationOfBenefit.billablePeriod' }],
        key: 'per-1',
      },
      {
        name: 'an element R4 does not have',
        breakIt: (e) => (e.item[0].revenueCode = 'x'),
        expected: [{ code: 'structure', expression: 'ExplanationOfBenefit.item[0].revenueCode' }],
      },
      {
        name: 'a single value where R4 has an array (diagnosis.type)',
        breakIt: (e) => (e.diagnosis[0].type = e.diagnosis[0].type[0]),
        expected: [{ code: 'structure', expression: 'ExplanationOfBenefit.diagnosis[0].type' }],
      },
    ];

  it.each(cases)('still fails with $name', ({ breakIt, expected, key }) => {
    const eob = inpatient();
    breakIt(eob);
    const issues = validator.validate(eob);
    expect(errors(issues)).toEqual(expected.map((e) => ({ ...e, profile: R4_EOB })));
    if (key) expect(issues.filter((i) => i.code === 'invariant').map((i) => i.key)).toEqual([key]);
  });

  it('would fail its C4BB profile on the code bindings Synthea cannot meet (why the EOBs claim none)', () => {
    const profiles: Record<string, string> = {
      inpatient: 'Inpatient-Institutional',
      outpatient: 'Outpatient-Institutional',
      professional: 'Professional-NonClinician',
      pharmacy: 'Pharmacy',
    };
    for (const [kind, eob] of byKind) {
      const claiming = { ...eob, meta: { ...eob.meta, profile: [`${C4BB}${profiles[kind]}|2.0.0`] } };
      const failed = errors(validator.validate(claiming));
      expect(failed.length, kind).toBeGreaterThan(0);
      // every error is a code the C4BB bindings require (ICD-10, CPT/HCPCS, NDC, NUBC) where Synthea has
      // SNOMED CT or RxNorm, or the revenue code Synthea does not have
      const elements = new Set(failed.map((f) => f.expression.replace(/\[\d+\]/g, '[]')));
      for (const element of elements)
        expect(element, kind).toMatch(
          /^ExplanationOfBenefit\.(item\[\]\.(productOrService|revenue)|diagnosis\[\]\.diagnosis\.ofType\(CodeableConcept\)|procedure\[\]\.procedure\.ofType\(CodeableConcept\))$/,
        );
      expect(elements, kind).toContain('ExplanationOfBenefit.item[].productOrService');
    }
  });
});
