// connectors/cms-ccw-rif.yaml end to end: the CMS sample RIF extract → C4BB resources, checked against the
// R4 JSON schema, the C4BB profiles' required elements, and the source text (money to the cent).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
import { ROOT, connectorWith, exportConnector, readRif, type ExportResult } from './export-helper.js';

type Json = Record<string, any>;
const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
const BBADJ = 'https://bluebutton.cms.gov/resources/codesystem/adjudication';
const SAMPLES = path.join(ROOT, 'samples/cms-ccw-rif');
const FIXTURES = path.join(ROOT, 'test/fixtures/cms-ccw-rif');
const CONNECTOR = path.join(ROOT, 'connectors/cms-ccw-rif.yaml');

/** claim type (EOB id prefix) → sample file, line-number column, expected C4BB profile */
const CLAIM_TYPES: Record<string, { file: string; line?: string; profile: string }> = {
  inpatient: { file: 'sample-a-inpatient.txt', line: 'CLM_LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Inpatient-Institutional' },
  snf: { file: 'sample-a-snf.txt', line: 'CLM_LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Inpatient-Institutional' },
  hospice: { file: 'sample-a-hospice.txt', line: 'CLM_LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Inpatient-Institutional' },
  outpatient: { file: 'sample-a-outpatient.txt', line: 'CLM_LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Outpatient-Institutional' },
  hha: { file: 'sample-a-hha.txt', line: 'CLM_LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Outpatient-Institutional' },
  carrier: { file: 'sample-a-bcarrier.txt', line: 'LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Professional-NonClinician' },
  dme: { file: 'sample-a-dme.txt', line: 'LINE_NUM', profile: 'C4BB-ExplanationOfBenefit-Professional-NonClinician' },
  pde: { file: 'sample-a-pde.txt', profile: 'C4BB-ExplanationOfBenefit-Pharmacy' },
};

/** Exact cents of a decimal text ("888.00" → 88800, "37.5" → 3750). */
function cents(text: string): number {
  const m = /^(-?)(\d*)(?:\.(\d{0,2})\d*)?$/.exec(text.trim());
  if (!m) throw new Error(`not an amount: ${JSON.stringify(text)}`);
  const value = Number(m[2] || '0') * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -value : value;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
/** A RIF date (DD-MON-YYYY) as YYYY-MM-DD. */
function isoDate(text: string): string {
  const m = /^(\d{2})-([A-Z]{3})-(\d{4})$/i.exec(text.trim());
  if (!m) throw new Error(`not a RIF date: ${JSON.stringify(text)}`);
  return `${m[3]}-${String(MONTHS.indexOf(m[2]!.toUpperCase()) + 1).padStart(2, '0')}-${m[1]}`;
}

/** The RIF column an adjudication/total names through its Blue Button coding, if any. */
function bbColumn(category: Json | undefined): string | undefined {
  const code = category?.coding?.find((c: Json) => c.system === BBADJ)?.code as string | undefined;
  return code?.split('/').pop()?.toUpperCase();
}

function expectConformant(resource: Json): void {
  const profiles: string[] = resource.meta?.profile ?? [];
  expect(profiles.length, `${resource.resourceType}/${resource.id} has a profile`).toBeGreaterThan(0);
  expect(schemaValidator().validate(resource), `${resource.resourceType}/${resource.id} R4 schema`).toEqual([]);
  for (const p of profiles) expect(missingRequiredElements(resource, p), `${resource.resourceType}/${resource.id} vs ${p}`).toEqual([]);
}

/** Checks every amount carrying a Blue Button column coding against that column of the source row(s). */
async function expectMoneyMatchesSource(eob: Json, file: string): Promise<number> {
  const [type, ...rest] = (eob.id as string).split('-');
  const claimId = rest.join('-');
  const spec = CLAIM_TYPES[type!]!;
  const rows = (await readRif(file)).filter((r) => (type === 'pde' ? r.PDE_ID : r.CLM_ID) === claimId);
  expect(rows.length, `source rows of ${eob.id}`).toBeGreaterThan(0);
  let checked = 0;
  const check = (entry: Json, row: Record<string, string>, where: string) => {
    const column = bbColumn(entry.category);
    if (!column) return;
    expect(row[column], `${eob.id} ${where}: column ${column} exists in ${path.basename(file)}`).toBeDefined();
    expect(Math.round(entry.amount.value * 100), `${eob.id} ${where} ${column}`).toBe(cents(row[column]!));
    checked++;
  };
  for (const t of eob.total ?? []) check(t, rows[0]!, 'total');
  for (const a of eob.adjudication ?? []) if (a.amount) check(a, rows[0]!, 'adjudication');
  for (const item of eob.item ?? []) {
    const row = spec.line ? rows.find((r) => Number(r[spec.line!]) === item.sequence) : rows[0];
    expect(row, `${eob.id} item ${item.sequence} has a source line`).toBeDefined();
    for (const a of item.adjudication ?? []) if (a.amount) check(a, row!, `item ${item.sequence}`);
  }
  if (eob.payment?.amount) {
    expect(Math.round(eob.payment.amount.value * 100)).toBe(cents(rows[0]!.CLM_PMT_AMT!));
    checked++;
  }
  return checked;
}

describe('fhir-bridge export --connector connectors/cms-ccw-rif.yaml', () => {
  let result: ExportResult;
  beforeAll(async () => {
    result = await exportConnector(CONNECTOR);
  }, 60_000);

  it('gives one EOB per claim type, each with its C4BB profile', () => {
    const eobs = result.byType('ExplanationOfBenefit');
    expect(eobs).toHaveLength(Object.keys(CLAIM_TYPES).length);
    for (const [type, spec] of Object.entries(CLAIM_TYPES)) {
      const eob = eobs.find((e) => e.id.startsWith(`${type}-`));
      expect(eob, `an EOB for ${type}`).toBeDefined();
      expect(eob!.meta?.profile).toEqual([`${C4BB}${spec.profile}|2.0.0`]);
    }
    expect(result.outcomes).toEqual([]);
  });

  it('makes one EOB per CLM_ID and one item per claim line', async () => {
    for (const [type, spec] of Object.entries(CLAIM_TYPES)) {
      const rows = await readRif(path.join(SAMPLES, spec.file));
      const ids = new Set(rows.map((r) => (type === 'pde' ? r.PDE_ID : r.CLM_ID)));
      const eobs = result.byType('ExplanationOfBenefit').filter((e) => e.id.startsWith(`${type}-`)) as Json[];
      expect(eobs.map((e) => e.id.slice(type.length + 1)).sort()).toEqual([...ids].sort());
      for (const eob of eobs) {
        const lines = rows.filter((r) => (type === 'pde' ? r.PDE_ID : r.CLM_ID) === eob.id.slice(type.length + 1));
        expect(eob.item).toHaveLength(spec.line ? lines.length : 1);
      }
    }
  });

  it("gives the beneficiary's Patient and Coverage for Parts A, B, C and D", async () => {
    const [bene] = await readRif(path.join(SAMPLES, 'sample-a-beneficiaries.txt'));
    expect(result.byType('Patient').map((p) => p.id)).toEqual([bene!.BENE_ID]);
    const coverages = result.byType('Coverage') as Json[];
    expect(coverages.map((c) => c.id).sort()).toEqual(['a', 'b', 'c', 'd'].map((p) => `part-${p}-${bene!.BENE_ID}`));
    for (const c of coverages) {
      expect(c.beneficiary.reference).toBe(`Patient/${bene!.BENE_ID}`);
      expect(c.subscriberId).toBe(bene!.MBI_NUM);
      expect(c.payor[0].reference).toBe('Organization/cms');
    }
    expect(result.byType('Organization').map((o) => o.id)).toEqual(['cms']);
  });

  it('references only resources of the export (patient, coverage, insurer)', () => {
    const have = new Set(result.resources.map((r) => `${r.resourceType}/${r.id}`));
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      expect(have.has(eob.patient.reference), eob.patient.reference).toBe(true);
      expect(have.has(eob.insurer.reference), eob.insurer.reference).toBe(true);
      for (const ins of eob.insurance) expect(have.has(ins.coverage.reference), ins.coverage.reference).toBe(true);
    }
  });

  it('passes the R4 JSON schema and has every element the C4BB profiles require', () => {
    for (const r of result.resources) expectConformant(r as Json);
  }, 60_000);

  it('writes every amount exactly as the source text, to the cent', async () => {
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      const type = eob.id.split('-')[0]!;
      const checked = await expectMoneyMatchesSource(eob, path.join(SAMPLES, CLAIM_TYPES[type]!.file));
      expect(checked, `${eob.id}: amounts checked`).toBeGreaterThanOrEqual(3);
    }
  });

  it('turns RIF dates (DD-MON-YYYY) into FHIR dates', async () => {
    const [row] = await readRif(path.join(SAMPLES, 'sample-a-inpatient.txt'));
    const eob = result.byType('ExplanationOfBenefit').find((e) => e.id.startsWith('inpatient-')) as Json;
    expect(row!.CLM_FROM_DT).toBe('15-JAN-2016');
    expect(eob.billablePeriod).toEqual({ start: '2016-01-15', end: '2016-01-27' });
  });
});

describe('RIF variants (test/fixtures/cms-ccw-rif)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });
  async function exportWith(overrides: Record<string, string>): Promise<ExportResult> {
    const { file, cleanup } = await connectorWith(
      CONNECTOR,
      Object.fromEntries(Object.entries(overrides).map(([t, f]) => [t, path.join(FIXTURES, f)])),
    );
    cleanups.push(cleanup);
    return exportConnector(file);
  }

  it('multiple lines: a 7-line carrier claim is one EOB with 7 items, amounts per line', async () => {
    const fixture = path.join(FIXTURES, 'sample-a-bcarrier-multiple-lines.txt');
    const rows = await readRif(fixture);
    expect(new Set(rows.map((r) => r.CLM_ID)).size).toBe(1);
    expect(rows).toHaveLength(7);
    const result = await exportWith({ bcarrier: 'sample-a-bcarrier-multiple-lines.txt' });
    const carriers = result.byType('ExplanationOfBenefit').filter((e) => e.id.startsWith('carrier-')) as Json[];
    expect(carriers).toHaveLength(1);
    expect(carriers[0]!.item).toHaveLength(7);
    expect(carriers[0]!.item.map((i: Json) => i.sequence)).toEqual(rows.map((r) => Number(r.LINE_NUM)));
    expect(carriers[0]!.item.map((i: Json) => i.productOrService.coding[0].code)).toEqual(rows.map((r) => r.HCPCS_CD));
    // line dates (DD-MON-YYYY, read by `$as: date`) per item
    expect(carriers[0]!.item.map((i: Json) => i.servicedPeriod?.start)).toEqual(rows.map((r) => isoDate(r.LINE_1ST_EXPNS_DT!)));
    expect(carriers[0]!.item.map((i: Json) => i.servicedPeriod?.end)).toEqual(rows.map((r) => isoDate(r.LINE_LAST_EXPNS_DT!)));
    expectConformant(carriers[0]!);
    await expectMoneyMatchesSource(carriers[0]!, fixture);
  });

  /** Each item's diagnosisSequence, resolved to the code of the diagnosis it names (undefined: none). */
  function lineDiagnoses(eob: Json): Array<string | undefined> {
    return eob.item.map((i: Json) => {
      if (!i.diagnosisSequence) return undefined;
      expect(i.diagnosisSequence, `item ${i.sequence} names one diagnosis`).toHaveLength(1);
      const dx = eob.diagnosis.find((d: Json) => d.sequence === i.diagnosisSequence[0]);
      expect(dx, `item ${i.sequence}: diagnosis ${i.diagnosisSequence[0]} exists`).toBeDefined();
      return dx.diagnosisCodeableConcept.coding[0].code;
    });
  }

  it("multiple lines: each line's diagnosis (LINE_ICD_DGNS_CD) is an EOB diagnosis its item points at", async () => {
    const fixture = path.join(FIXTURES, 'sample-a-bcarrier-multiple-lines.txt');
    const rows = await readRif(fixture);
    const result = await exportWith({ bcarrier: 'sample-a-bcarrier-multiple-lines.txt' });
    const eob = result.byType('ExplanationOfBenefit').find((e) => e.id.startsWith('carrier-')) as Json;
    expect(lineDiagnoses(eob)).toEqual(rows.map((r) => r.LINE_ICD_DGNS_CD));
    // the code no claim diagnosis has is added once, as ICD-10-CM (version code 0), not once per line
    const codes = eob.diagnosis.map((d: Json) => d.diagnosisCodeableConcept.coding[0].code);
    expect(codes.filter((c: string) => c === rows[0]!.LINE_ICD_DGNS_CD)).toHaveLength(1);
    const added = eob.diagnosis.find((d: Json) => d.diagnosisCodeableConcept.coding[0].code === rows[0]!.LINE_ICD_DGNS_CD);
    expect(added.diagnosisCodeableConcept.coding[0].system).toBe('http://hl7.org/fhir/sid/icd-10-cm');
    expectConformant(eob);
  });

  it('multiple lines with different diagnoses: each item points at its own, claim diagnoses are reused', async () => {
    const fixture = path.join(FIXTURES, 'sample-a-bcarrier-multiple-lines.txt');
    const text = await readFile(fixture, 'utf8');
    const [header, ...lines] = text.trimEnd().split('\n');
    const columns = header!.split('|');
    const at = columns.indexOf('LINE_ICD_DGNS_CD');
    const first = Object.fromEntries(columns.map((c, i) => [c, lines[0]!.split('|')[i]]));
    // the principal, another claim diagnosis, a new code on two lines, a second new code, none, and the original
    const wanted = [first.PRNCPAL_DGNS_CD!, first.ICD_DGNS_CD2!, 'Z0100', 'Z0100', 'Z0200', '', 'A52'];
    const changed = lines.map((line, n) => {
      const values = line.split('|');
      values[at] = wanted[n]!;
      return values.join('|');
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-rif-dx-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'bcarrier.txt');
    await writeFile(file, [header, ...changed].join('\n') + '\n');
    const { file: connector, cleanup } = await connectorWith(CONNECTOR, { bcarrier: file });
    cleanups.push(cleanup);
    const eob = (await exportConnector(connector)).byType('ExplanationOfBenefit').find((e) => e.id.startsWith('carrier-')) as Json;
    expect(lineDiagnoses(eob)).toEqual(wanted.map((c) => c || undefined));
    expect(eob.item[0].diagnosisSequence).toEqual([1]); // the principal diagnosis itself
    const codes = eob.diagnosis.map((d: Json) => d.diagnosisCodeableConcept.coding[0].code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(eob.diagnosis.map((d: Json) => d.sequence)).size).toBe(codes.length);
    expectConformant(eob);
  });

  it.each([
    ['inpatient', 'sample-a-inpatient-with-four-character-drg-code.txt'],
    ['snf', 'sample-a-snf-with-four-character-drg-code.txt'],
  ])('four-character DRG (%s) is kept whole', async (table, file) => {
    const [row] = await readRif(path.join(FIXTURES, file));
    expect(row!.CLM_DRG_CD).toHaveLength(4);
    const result = await exportWith({ [table]: file });
    const eob = result.byType('ExplanationOfBenefit').find((e) => e.id.startsWith(`${table}-`)) as Json;
    const drg = eob.supportingInfo.find((s: Json) => s.category.coding[0].code === 'drg');
    expect(drg.code.coding[0].code).toBe(row!.CLM_DRG_CD);
    expect(result.outcomes).toEqual([]);
    expectConformant(eob);
  });

  it('backslash: an address line ending in "\\" is kept and the following fields do not shift', async () => {
    const [row] = await readRif(path.join(FIXTURES, 'sample-a-beneficiaries-with-backslash.txt'));
    expect(row!.DRVD_LINE_4_ADR!.endsWith('\\')).toBe(true);
    const result = await exportWith({ beneficiaries: 'sample-a-beneficiaries-with-backslash.txt' });
    const [patient] = result.byType('Patient') as Json[];
    expect(patient!.address[0].line).toContain(row!.DRVD_LINE_4_ADR);
    expect(patient!.address[0].line).toContain(row!.DRVD_LINE_5_ADR);
    expect(patient!.address[0].city).toBe(row!.CITY_NAME);
    expectConformant(patient!);
  });

  it('missing reference year: the beneficiary still becomes a Patient and its Coverages', async () => {
    const [row] = await readRif(path.join(FIXTURES, 'sample-a-beneficiaries-without-reference-year.txt'));
    expect(row!.RFRNC_YR).toBe('');
    const result = await exportWith({ beneficiaries: 'sample-a-beneficiaries-without-reference-year.txt' });
    expect(result.byType('Patient').map((p) => p.id)).toEqual([row!.BENE_ID]);
    expect(result.byType('Coverage')).toHaveLength(4);
    expect(result.outcomes).toEqual([]);
    for (const r of [...result.byType('Patient'), ...result.byType('Coverage')]) expectConformant(r as Json);
  });

  it('several entries for one beneficiary: one Patient and one Coverage per part', async () => {
    const rows = await readRif(path.join(FIXTURES, 'sample-a-multiple-entries-same-bene.txt'));
    expect(rows.length).toBeGreaterThan(1);
    expect(new Set(rows.map((r) => r.BENE_ID)).size).toBe(1);
    const result = await exportWith({ beneficiaries: 'sample-a-multiple-entries-same-bene.txt' });
    expect(result.byType('Patient').map((p) => p.id)).toEqual([rows[0]!.BENE_ID]);
    const ids = result.byType('Coverage').map((c) => c.id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(4);
    expect(result.outcomes).toEqual([]);
  });
});
