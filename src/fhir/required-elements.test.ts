import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { knownProfiles, missingRequiredElements } from './required-elements.js';

const PKG = '/work/shared/data/fhir-r4-conformance/packages/hl7.fhir.us.carin-bb-2.0.0.tgz';
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
type Json = Record<string, any>;

/** An example resource from the CARIN BB package (read-only reference data). */
function example(name: string): Json {
  return JSON.parse(execFileSync('tar', ['xzOf', PKG, `package/example/${name}.json`], { encoding: 'utf8' }));
}
const haveExamples = existsSync(PKG);

describe.skipIf(!haveExamples)('missingRequiredElements on the CARIN BB examples', () => {
  const cases: Array<[string, string]> = [
    ['ExplanationOfBenefit-EOBInpatient1', 'C4BB-ExplanationOfBenefit-Inpatient-Institutional'],
    ['ExplanationOfBenefit-EOBOutpatient1', 'C4BB-ExplanationOfBenefit-Outpatient-Institutional'],
    ['ExplanationOfBenefit-EOBPharmacy1', 'C4BB-ExplanationOfBenefit-Pharmacy'],
    ['ExplanationOfBenefit-EOBProfessional1', 'C4BB-ExplanationOfBenefit-Professional-NonClinician'],
    ['Coverage-Coverage1', 'C4BB-Coverage'],
    ['Patient-Patient1', 'C4BB-Patient'],
    ['Organization-Payer1', 'C4BB-Organization'],
    ['Practitioner-Practitioner1', 'C4BB-Practitioner'],
  ];
  it.each(cases)('%s conforms to %s', (name, profile) => {
    expect(missingRequiredElements(example(name), C4BB + profile)).toEqual([]);
  });

  it('reports a missing required slice discriminated by a pattern', () => {
    const eob = example('ExplanationOfBenefit-EOBInpatient1');
    eob.adjudication = eob.adjudication.filter((a: Json) => a.category.coding[0].code !== 'benefitpaymentstatus');
    expect(missingRequiredElements(eob, C4BB + 'C4BB-ExplanationOfBenefit-Inpatient-Institutional')).toContain(
      'ExplanationOfBenefit.adjudication:benefitpaymentstatus',
    );
  });

  it('reports a missing slice discriminated by a required value set binding', () => {
    const eob = example('ExplanationOfBenefit-EOBInpatient1');
    eob.total = [{ category: { coding: [{ system: 'http://example.org/cs', code: 'x' }] }, amount: { value: 1, currency: 'USD' } }];
    expect(missingRequiredElements(eob, C4BB + 'C4BB-ExplanationOfBenefit-Inpatient-Institutional')).toContain(
      'ExplanationOfBenefit.total:adjudicationamounttype',
    );
  });

  it('reports a required choice-type slice (admission period as a Period)', () => {
    const eob = example('ExplanationOfBenefit-EOBInpatient1');
    const adm = eob.supportingInfo.find((s: Json) => s.category.coding[0].code === 'admissionperiod');
    adm.timingDate = adm.timingPeriod.start;
    delete adm.timingPeriod;
    const missing = missingRequiredElements(eob, C4BB + 'C4BB-ExplanationOfBenefit-Inpatient-Institutional');
    expect(missing).toContain('ExplanationOfBenefit.supportingInfo:admissionperiod.timing[x]:timingPeriod');
  });

  it('names the instance path of a missing child element', () => {
    const eob = example('ExplanationOfBenefit-EOBPharmacy1');
    delete eob.item[0].sequence;
    delete eob.identifier;
    const missing = missingRequiredElements(eob, C4BB + 'C4BB-ExplanationOfBenefit-Pharmacy');
    expect(missing).toContain('ExplanationOfBenefit.item[0].sequence');
    expect(missing).toContain('ExplanationOfBenefit.identifier');
    expect(missing).toContain('ExplanationOfBenefit.identifier:uniqueclaimid');
  });
});

describe('missingRequiredElements', () => {
  it('knows the CARIN BB and US Core 6.1 profiles', () => {
    const known = knownProfiles();
    expect(known).toContain(C4BB + 'C4BB-Coverage');
    expect(known).toContain('http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient');
  });
  it('lists the required elements of an empty Coverage', () => {
    const missing = missingRequiredElements({ resourceType: 'Coverage', id: 'c' }, C4BB + 'C4BB-Coverage|2.0.0');
    expect(missing).toEqual(expect.arrayContaining(['Coverage.status', 'Coverage.beneficiary', 'Coverage.payor', 'Coverage.meta']));
    expect(missing).not.toContain('Coverage.meta.lastUpdated'); // children only count when the parent is there
  });
  it('counts a primitive present only through its extension', () => {
    const missing = missingRequiredElements(
      { resourceType: 'Patient', _gender: { extension: [{ url: 'x', valueCode: 'y' }] } },
      'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient',
    );
    expect(missing).not.toContain('Patient.gender');
    expect(missing).toContain('Patient.name');
  });
  it('rejects a resource of another type and an unknown profile', () => {
    expect(missingRequiredElements({ resourceType: 'Patient' }, C4BB + 'C4BB-Coverage')[0]).toMatch(/^Coverage/);
    expect(() => missingRequiredElements({ resourceType: 'Patient' }, 'http://example.org/nope')).toThrow(/unknown profile/);
  });
});

describe('missingRequiredElements on US Core 6.1 slices', () => {
  const BP = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure';
  const component = (code: string) => ({
    code: { coding: [{ system: 'http://loinc.org', code }] },
    valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  });
  const bp = (components: unknown[]) => ({
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2020-01-01',
    component: components,
  });
  it('accepts a blood pressure with both components and the vital-signs category', () => {
    expect(missingRequiredElements(bp([component('8480-6'), component('8462-4')]), BP)).toEqual([]);
  });
  it('reports the missing diastolic component (a pattern-discriminated slice)', () => {
    const missing = missingRequiredElements(bp([component('8480-6')]), BP);
    expect(missing).toContain('Observation.component:diastolic');
    expect(missing).not.toContain('Observation.component:systolic');
  });
  it('reports the missing vital-signs category slice', () => {
    const obs = bp([component('8480-6'), component('8462-4')]);
    obs.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }];
    expect(missingRequiredElements(obs, BP)).toContain('Observation.category:VSCat');
  });
});
