// mappings/synthea-claims on the shipped Synthea sample (synthea-csv connector + the claims folder):
// one EOB per claims.csv row of the type of its claim kind (base R4: no CARIN BB profile, see eob.yaml),
// conformant, and money equal to the sums of claims_transactions.csv to the cent.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
import { missingBaseElements } from '../synthea/base-required.js';
import { ROOT, connectorWith, exportConnector, type ExportResult } from './export-helper.js';
import {
  C4BB,
  amountOf,
  expectedKinds,
  kindOf,
  moneyOf,
  table,
  toCents,
  transactionsByClaim,
  type Json,
  type Row,
} from './synthea-expected.js';

describe('Synthea claims → R4 EOBs in the CARIN Blue Button shape (mappings/synthea-claims)', () => {
  let result: ExportResult;
  let cleanup: () => Promise<void>;
  const claims = table('claims.csv');
  const transactions = table('claims_transactions.csv.gz');
  const byClaim = transactionsByClaim(transactions);

  beforeAll(async () => {
    const connector = await connectorWith(path.join(ROOT, 'connectors/synthea-csv.yaml'), {}, [path.join(ROOT, 'mappings/synthea-claims')]);
    cleanup = connector.cleanup;
    result = await exportConnector(connector.file);
  }, 120_000);
  afterAll(async () => cleanup?.());

  it('makes exactly one ExplanationOfBenefit and one Claim per claims.csv row, and no row errors', () => {
    const eobs = result.byType('ExplanationOfBenefit');
    expect(eobs).toHaveLength(claims.length);
    expect(new Set(eobs.map((e) => e.id))).toEqual(new Set(claims.map((c) => c.Id)));
    expect(
      result
        .byType('Claim')
        .map((c) => c.id)
        .sort(),
    ).toEqual(claims.map((c) => c.Id).sort());
    expect(result.outcomes).toEqual([]);
  });

  it('gives each EOB the type (and institutional subType) of its claim kind, and no profile', () => {
    const expected = expectedKinds(claims, transactions);
    const seen = new Set<string>();
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      expect(kindOf(eob), eob.id).toBe(expected.get(eob.id));
      // Synthea's SNOMED CT / RxNorm codes cannot meet the C4BB EOB bindings: base R4 (eob.yaml)
      expect(eob.meta?.profile, eob.id).toBeUndefined();
      seen.add(kindOf(eob));
    }
    expect(seen).toEqual(new Set(['pharmacy', 'inpatient', 'outpatient', 'professional'])); // the sample has every kind
  });

  it('passes the R4 schema and has every element its profile requires (Coverage, payer: C4BB; EOB, Claim: R4 base)', () => {
    const c4bb = result.resources.filter((r) => (r.meta?.profile ?? []).some((p) => p.startsWith(C4BB)));
    // (the connector also lists mappings/synthea, whose Patients, Practitioners and Organizations are C4BB too)
    expect([...new Set(c4bb.map((r) => r.resourceType))]).toEqual(expect.arrayContaining(['Coverage', 'Organization']));
    expect(c4bb.filter((r) => r.resourceType === 'ExplanationOfBenefit')).toEqual([]);
    for (const r of c4bb) {
      expect(schemaValidator().validate(r), `${r.resourceType}/${r.id}`).toEqual([]);
      for (const p of r.meta!.profile!) expect(missingRequiredElements(r, p), `${r.resourceType}/${r.id} vs ${p}`).toEqual([]);
    }
    const base = [...result.byType('ExplanationOfBenefit'), ...result.byType('Claim')];
    expect(base).toHaveLength(2 * claims.length);
    for (const r of base) {
      expect(schemaValidator().validate(r), `${r.resourceType}/${r.id}`).toEqual([]);
      expect(missingBaseElements(r), `${r.resourceType}/${r.id}`).toEqual([]);
    }
  }, 60_000);

  it('adds up claims_transactions.csv exactly, per claim and per item', () => {
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      const rows = byClaim.get(eob.id) ?? [];
      const m = moneyOf(rows);
      const total = eob.total as Json[];
      expect(toCents(amountOf(total, 'submitted')), `${eob.id} submitted`).toBe(m.submitted);
      expect(toCents(amountOf(total, 'benefit')), `${eob.id} benefit`).toBe(m.benefit);
      expect(toCents(amountOf(total, 'copay')), `${eob.id} copay`).toBe(m.copay);
      expect(toCents(amountOf(total, 'paidbypatient')), `${eob.id} paidbypatient`).toBe(m.paidbypatient);
      expect(toCents(amountOf(total, 'memberliability')), `${eob.id} memberliability`).toBe(m.submitted - m.benefit);
      expect(toCents(eob.payment.amount.value)).toBe(m.benefit);
      // One item per CHARGE row, in order; each with its own charge and payments.
      const lines: Row[][] = [];
      for (const t of rows) {
        if (t.TYPE === 'CHARGE') lines.push([t]);
        else lines[lines.length - 1]?.push(t);
      }
      expect(eob.item.map((i: Json) => i.sequence)).toEqual(lines.map((_, i) => i + 1));
      eob.item.forEach((item: Json, i: number) => {
        const lm = moneyOf(lines[i]!);
        expect(item.productOrService.coding[0].code).toBe(lines[i]![0]!.PROCEDURECODE);
        expect(toCents(amountOf(item.adjudication, 'submitted')), `${eob.id} item ${i + 1}`).toBe(lm.submitted);
        expect(toCents(amountOf(item.adjudication, 'benefit')), `${eob.id} item ${i + 1}`).toBe(lm.benefit);
        expect(toCents(amountOf(item.adjudication, 'paidbypatient')), `${eob.id} item ${i + 1}`).toBe(lm.paidbypatient);
      });
    }
  }, 30_000);

  it('points each EOB at the Coverage whose period holds the service date, with the claim payer as insurer', () => {
    const coverages = new Map(result.byType('Coverage').map((c) => [`Coverage/${c.id}`, c as Json]));
    const claimById = new Map(claims.map((c) => [c.Id!, c]));
    let withCoverage = 0;
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      const claim = claimById.get(eob.id)!;
      const ref = eob.insurance[0].coverage.reference as string | undefined;
      if (claim.PRIMARYPATIENTINSURANCEID) expect(eob.insurer.reference).toBe(`Organization/${claim.PRIMARYPATIENTINSURANCEID}`);
      if (!ref) {
        expect(eob.insurance[0].coverage.display, eob.id).toBeTruthy();
        continue;
      }
      withCoverage++;
      const cov = coverages.get(ref);
      expect(cov, `${eob.id} → ${ref}`).toBeDefined();
      expect(cov!.beneficiary.reference).toBe(eob.patient.reference);
      expect(cov!.payor[0].reference).toBe(eob.insurer.reference);
      const served = Date.parse(claim.SERVICEDATE!);
      expect(served).toBeGreaterThanOrEqual(Date.parse(cov!.period.start));
      expect(served).toBeLessThan(Date.parse(cov!.period.end));
    }
    expect(withCoverage).toBeGreaterThan(claims.length / 2);
  }, 30_000);

  it('references only resources the combined export (mappings/synthea + synthea-claims) contains', () => {
    const have = new Set(result.resources.map((r) => `${r.resourceType}/${r.id}`));
    const refs = (v: unknown, out: string[]): string[] => {
      if (Array.isArray(v)) {
        for (const x of v) refs(x, out);
      } else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'reference' && typeof x === 'string') out.push(x);
          else refs(x, out);
        }
      }
      return out;
    };
    let n = 0;
    for (const r of [...result.byType('ExplanationOfBenefit'), ...result.byType('Claim'), ...result.byType('Coverage')]) {
      for (const ref of refs(r, [])) {
        expect(have.has(ref), `${r.resourceType}/${r.id} → ${ref}`).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThan(claims.length * 4);
  });

  it("lists the encounter's procedures on institutional and professional EOBs, the first as principal", () => {
    const claimById = new Map(claims.map((c) => [c.Id!, c]));
    const byEncounter = new Map<string, number>();
    for (const p of table('procedures.csv')) byEncounter.set(p.ENCOUNTER!, (byEncounter.get(p.ENCOUNTER!) ?? 0) + 1);
    let withProcedures = 0;
    for (const eob of result.byType('ExplanationOfBenefit') as Json[]) {
      const n = byEncounter.get(claimById.get(eob.id)!.APPOINTMENTID!) ?? 0;
      if (kindOf(eob) === 'pharmacy') {
        expect(eob.procedure).toBeUndefined();
        continue;
      }
      expect(eob.procedure?.length ?? 0, eob.id).toBe(n);
      if (n === 0) continue;
      withProcedures++;
      expect(eob.procedure.map((p: Json) => p.sequence)).toEqual([...Array(n).keys()].map((i) => i + 1));
      if (eob.type.coding[0].code === 'institutional') expect(eob.procedure[0].type[0].coding[0].code).toBe('principal');
    }
    expect(withProcedures).toBeGreaterThan(0);
  });

  it('makes one Coverage per payer_transitions.csv row and one payer Organization per payers.csv row', () => {
    expect(result.byType('Coverage')).toHaveLength(table('payer_transitions.csv').length);
    const payerIds = table('payers.csv').map((p) => p.Id);
    // provider organizations (mappings/synthea) are C4BB Organizations too; payers carry a payerid identifier
    const isPayer = (o: Json) => (o.identifier ?? []).some((i: Json) => i.type?.coding?.some((c: Json) => c.code === 'payerid'));
    const orgs = result.byType('Organization').filter((o) => isPayer(o as Json)) as Json[];
    expect(orgs.map((o) => o.id).sort()).toEqual([...payerIds].sort());
    for (const o of orgs) expect(o.meta?.profile, `Organization/${o.id}`).toContain(`${C4BB}C4BB-Organization|2.0.0`);
  });
});
