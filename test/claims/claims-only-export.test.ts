// The embedded sample as a payer would export it: the Synthea sample loaded into SQLite by the sample loader
// (as `fhir-bridge export` without --connector does), US Core + CARIN BB mapping folders, and a claims-only
// `_type=ExplanationOfBenefit,Coverage,Patient`. The Patients must then be C4BB Patients too, and the claims
// queries must reach the loader's indexes (otherwise each child batch rescans claims_transactions).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SAMPLE_LAST_UPDATED } from '../../src/sample/synthea-schema.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSelect } from '../../src/connectors/sql-builder.js';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { ROOT, exportWith, type ExportResult } from './export-helper.js';
import { C4BB, amountOf, moneyOf, table, toCents, transactionsByClaim, type Json } from './synthea-expected.js';

const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';

describe('claims-only export of the embedded sample (SQLite, mappings/synthea + mappings/synthea-claims)', () => {
  let dir: string;
  let dbFile: string;
  let source: OpenedSource;
  let result: ExportResult;
  const claims = table('claims.csv');
  const transitions = table('payer_transitions.csv');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'claims-only-'));
    dbFile = path.join(dir, 'synthea.sqlite');
    const connector = path.join(dir, 'connector.yaml');
    // `sample: synthea` builds the database with the sample loader on first open, as the default connector does
    await writeFile(
      connector,
      [
        'name: claims-only',
        'kind: sqlite',
        `path: ${JSON.stringify(dbFile)}`,
        'sample: synthea',
        'timezone: UTC',
        'mappings:',
        `  - ${JSON.stringify(path.join(ROOT, 'mappings/synthea'))}`,
        `  - ${JSON.stringify(path.join(ROOT, 'mappings/synthea-claims'))}`,
      ].join('\n'),
    );
    source = await openSource(connector);
    result = await exportWith(source.adapter, source.mappings, ['ExplanationOfBenefit', 'Coverage', 'Patient']);
  }, 120_000);
  afterAll(async () => {
    await source?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exports one EOB per claims.csv row, one Coverage per enrolment period and every patient, without issues', () => {
    const eobs = result.byType('ExplanationOfBenefit');
    expect(eobs).toHaveLength(claims.length);
    expect(new Set(eobs.map((e) => e.id))).toEqual(new Set(claims.map((c) => c.Id)));
    expect(result.byType('Coverage')).toHaveLength(transitions.length);
    expect(
      result
        .byType('Patient')
        .map((p) => p.id)
        .sort(),
    ).toEqual(
      table('patients.csv')
        .map((p) => p.Id)
        .sort(),
    );
    expect(new Set(result.resources.map((r) => r.resourceType))).toEqual(new Set(['ExplanationOfBenefit', 'Coverage', 'Patient']));
    expect(result.outcomes).toEqual([]);
  });

  it('makes every member a C4BB Patient as well as a US Core Patient, conformant to both', () => {
    const members = new Set(transitions.filter((t) => t.MEMBERID).map((t) => t.PATIENT));
    expect(members.size).toBeGreaterThan(0);
    for (const patient of result.byType('Patient') as Json[]) {
      const expected = members.has(patient.id) ? [US_CORE_PATIENT, `${C4BB}C4BB-Patient|2.0.0`] : [US_CORE_PATIENT];
      expect(patient.meta?.profile, `Patient/${patient.id}`).toEqual(expected);
      expect(schemaValidator().validate(patient), `Patient/${patient.id} R4 schema`).toEqual([]);
      for (const p of expected) expect(missingRequiredElements(patient, p), `Patient/${patient.id} vs ${p}`).toEqual([]);
    }
  }, 60_000);

  it('gives the C4BB Patient the member id of the latest enrolment and lastUpdated from the change-tracking column', () => {
    for (const patient of result.byType('Patient') as Json[]) {
      const periods = transitions.filter((t) => t.PATIENT === patient.id).sort((a, b) => a.START_DATE!.localeCompare(b.START_DATE!));
      const withMember = periods.filter((t) => t.MEMBERID);
      const member = (patient.identifier as Json[]).filter((i) => i.type?.coding?.some((c: Json) => c.code === 'MB'));
      expect(
        member.map((i) => i.value),
        `Patient/${patient.id}`,
      ).toEqual(withMember.length ? [withMember.at(-1)!.MEMBERID] : []);

      // the loader stamps every sample row with the sample's date (src/sample/synthea-schema.ts); CSV sources,
      // which keep no change times, fall back to the record's latest event (patient.test.yaml)
      expect(Date.parse(patient.meta.lastUpdated), `Patient/${patient.id} lastUpdated`).toBe(Date.parse(SAMPLE_LAST_UPDATED));
    }
  });

  it('points every EOB and Coverage at a Patient of the same export', () => {
    const patients = new Set(result.byType('Patient').map((p) => `Patient/${p.id}`));
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) expect(patients.has(eob.patient.reference), eob.id).toBe(true);
    for (const c of result.byType('Coverage') as Json[]) expect(patients.has(c.beneficiary.reference), c.id).toBe(true);
  });

  it('adds up claims_transactions exactly per item from the SQLite database too', () => {
    const byClaim = transactionsByClaim(table('claims_transactions.csv.gz'));
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      const rows = byClaim.get(eob.id) ?? [];
      // items: each CHARGE with the PAYMENT rows up to the next CHARGE
      const groups: (typeof rows)[] = [];
      for (const t of rows) {
        if (t.TYPE === 'CHARGE') groups.push([t]);
        else groups.at(-1)?.push(t);
      }
      expect(
        eob.item.map((i: Json) => i.sequence),
        eob.id,
      ).toEqual(groups.map((_, i) => i + 1));
      groups.forEach((g, i) => {
        const m = moneyOf(g);
        expect(toCents(amountOf(eob.item[i].adjudication, 'submitted')), `${eob.id} item ${i + 1} submitted`).toBe(m.submitted);
        expect(toCents(amountOf(eob.item[i].adjudication, 'benefit')), `${eob.id} item ${i + 1} benefit`).toBe(m.benefit);
      });
    }
  });

  it('has the loader index every foreign key column the claims mappings join on', () => {
    const db = new Database(dbFile, { readonly: true });
    try {
      const indexed = (t: string) =>
        (db.prepare(`select name from pragma_index_list(?)`).all(t) as Array<{ name: string }>).flatMap((i) =>
          (db.prepare(`select name from pragma_index_info(?)`).all(i.name) as Array<{ name: string }>).length === 1
            ? (db.prepare(`select name from pragma_index_info(?)`).all(i.name) as Array<{ name: string }>).map((c) => c.name)
            : [],
        );
      expect(indexed('claims_transactions')).toContain('claimid');
      expect(indexed('claims')).toEqual(expect.arrayContaining(['appointmentid', 'patientid']));
      expect(indexed('encounters')).toContain('patient');
      expect(indexed('observations')).toEqual(expect.arrayContaining(['patient', 'encounter']));
      expect(indexed('procedures')).toContain('encounter');
      expect(indexed('medications')).toContain('encounter');
    } finally {
      db.close();
    }
  });

  it("filters each of the EOB mapping's child queries by index, not by scanning a table per batch", () => {
    const eob = source.mappings.byName.get('eob')!;
    const someClaims = claims.slice(0, 20);
    const parentValues: Record<string, string[]> = {
      id: someClaims.map((c) => c.Id!),
      appointmentid: someClaims.map((c) => c.APPOINTMENTID!),
    };
    const db = new Database(dbFile, { readonly: true });
    try {
      for (const child of eob.children) {
        // the query fetchChildRows sends: the child's SQL with an IN list on its first join column
        const values = parentValues[child.on[0]!.parent]!;
        const built = buildSelect('sqlite', { ...child.query, where: [{ column: child.on[0]!.child, op: 'in', value: values }] });
        const plan = (db.prepare(`explain query plan ${built.sql}`).all(...built.bindings) as Array<{ detail: string }>).map(
          (p) => p.detail,
        );
        expect(
          plan.filter((d) => /^SCAN \w+( USING|$)/.test(d) && !/^SCAN \(subquery|^SCAN src/.test(d)),
          `${child.name}: ${plan.join(' | ')}`,
        ).toEqual([]);
        expect(
          plan.some((d) => /^SEARCH .* USING (COVERING )?INDEX/.test(d)),
          `${child.name}: ${plan.join(' | ')}`,
        ).toBe(true);
      }
    } finally {
      db.close();
    }
  });
});
