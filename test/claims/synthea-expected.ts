// What the Synthea claims export must contain, computed straight from the shipped CSV files (independently
// of the mappings' SQL): claim kinds, and money in exact cents.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { ROOT } from './export-helper.js';

export type Json = Record<string, any>;
export type Row = Record<string, string>;
export const CSV = path.join(ROOT, 'samples/synthea-11pt/csv');
export const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';

export function table(name: string): Row[] {
  const file = path.join(CSV, name);
  const text = name.endsWith('.gz') ? gunzipSync(readFileSync(file)).toString('utf8') : readFileSync(file, 'utf8');
  return parse(text, { columns: true, skip_empty_lines: true, bom: true }) as Row[];
}

/** Exact cents of a decimal text; empty → 0. */
export function cents(text: string | undefined): number {
  if (!text) return 0;
  const m = /^(-?)(\d*)(?:\.(\d{0,2})\d*)?$/.exec(text.trim());
  if (!m) throw new Error(`not an amount: ${JSON.stringify(text)}`);
  const v = Number(m[2] || '0') * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -v : v;
}
export const toCents = (v: number | undefined) => Math.round((v ?? NaN) * 100);

export type ClaimKind = 'pharmacy' | 'inpatient' | 'outpatient' | 'professional';

/** The claim kind the header of eob.yaml defines, computed here from the CSV files independently. */
export function expectedKinds(claims: Row[], transactions: Row[]): Map<string, ClaimKind> {
  const encounters = new Map(table('encounters.csv').map((e) => [e.Id!, e]));
  const medications = new Set(table('medications.csv').map((m) => `${m.PATIENT}|${m.ENCOUNTER}|${m.CODE}`));
  const charges = new Map<string, string[]>();
  for (const t of transactions) if (t.TYPE === 'CHARGE') charges.set(t.CLAIMID!, [...(charges.get(t.CLAIMID!) ?? []), t.PROCEDURECODE!]);
  const out = new Map<string, ClaimKind>();
  for (const c of claims) {
    const isMedication = (charges.get(c.Id!) ?? []).some((code) => medications.has(`${c.PATIENTID}|${c.APPOINTMENTID}|${code}`));
    const cls = encounters.get(c.APPOINTMENTID!)?.ENCOUNTERCLASS;
    const kind: ClaimKind = isMedication
      ? 'pharmacy'
      : c.HEALTHCARECLAIMTYPEID1 === '2'
        ? ['inpatient', 'snf', 'hospice'].includes(cls ?? '')
          ? 'inpatient'
          : 'outpatient'
        : 'professional';
    out.set(c.Id!, kind);
  }
  return out;
}

/**
 * The kind an exported EOB says it is, the CARIN BB way (the Synthea EOBs are base R4 and claim no profile,
 * see eob.yaml): claim-type pharmacy or professional, or institutional with the C4BB subType.
 */
export function kindOf(eob: Json): string {
  const type = eob.type?.coding?.find((c: Json) => c.system === 'http://terminology.hl7.org/CodeSystem/claim-type')?.code;
  if (type !== 'institutional') return String(type);
  return String(eob.subType?.coding?.find((c: Json) => c.system === `${C4BB_CODES}C4BBInstitutionalClaimSubType`)?.code);
}
const C4BB_CODES = 'http://hl7.org/fhir/us/carin-bb/CodeSystem/';

export interface Money {
  submitted: number;
  benefit: number;
  copay: number;
  paidbypatient: number;
}
export function moneyOf(rows: Row[]): Money {
  const m: Money = { submitted: 0, benefit: 0, copay: 0, paidbypatient: 0 };
  for (const t of rows) {
    if (t.TYPE === 'CHARGE') m.submitted += cents(t.AMOUNT);
    if (t.TYPE !== 'PAYMENT') continue;
    if (t.METHOD === 'ECHECK') m.benefit += cents(t.PAYMENTS);
    else m.paidbypatient += cents(t.PAYMENTS);
    if (t.METHOD === 'COPAY') m.copay += cents(t.PAYMENTS);
  }
  return m;
}

export function amountOf(entries: Json[] | undefined, code: string): number | undefined {
  return entries?.find((e) => e.category?.coding?.some((c: Json) => c.code === code))?.amount?.value;
}

/** claims_transactions.csv rows per claim, in CHARGEID order. */
export function transactionsByClaim(transactions: Row[]): Map<string, Row[]> {
  const byClaim = new Map<string, Row[]>();
  for (const t of transactions) byClaim.set(t.CLAIMID!, [...(byClaim.get(t.CLAIMID!) ?? []), t]);
  for (const rows of byClaim.values()) rows.sort((a, b) => Number(a.CHARGEID) - Number(b.CHARGEID));
  return byClaim;
}
