// The embedded Synthea sample, exported end to end from the CSV and SQLite connectors through the US Core
// mappings in mappings/synthea, checked against an independent reading of the CSV files.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
import { emptyValues, exportConnector, referencesOf, type CollectedExport } from './collect-export.js';
import { missingBaseElements } from './base-required.js';
import {
  BASE_R4_TYPES,
  DIASTOLIC,
  SYSTOLIC,
  expectedCounts,
  expectedProfile,
  measurementKey,
  observationRowKey,
  readTable,
} from './source-counts.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const US_CORE_MAPPINGS = path.join(ROOT, 'mappings', 'synthea');

interface Coding {
  system?: string;
  code?: string;
}
interface Obs {
  resourceType: string;
  id: string;
  meta?: { profile?: string[] };
  subject?: { reference?: string };
  encounter?: { reference?: string };
  code?: { coding?: Coding[] };
  category?: Array<{ coding?: Coding[] }>;
  effectiveDateTime?: string;
  component?: Array<{ code?: { coding?: Coding[] }; valueQuantity?: { value?: number } }>;
}

const idOf = (ref: string | undefined, type: string): string => {
  expect(ref?.startsWith(`${type}/`), `${String(ref)} is a ${type} reference`).toBe(true);
  return ref!.slice(type.length + 1);
};

/** The source rows each Observation stands for, in the key format of observationRowKey. */
function rowKeysOf(o: Obs): string[] {
  const patient = idOf(o.subject?.reference, 'Patient');
  const encounter = o.encounter ? idOf(o.encounter.reference, 'Encounter') : '';
  const instant = new Date(o.effectiveDateTime!).toISOString();
  const codes = (o.code?.coding ?? []).map((c: Coding) => c.code!);
  if (codes.includes('85354-9')) {
    return (o.component ?? []).map((c) => [patient, encounter, c.code!.coding![0]!.code, instant].join('|'));
  }
  // pulse oximetry carries 59408-5 beside the source's 2708-6: the source code is the last coding
  return [[patient, encounter, codes[codes.length - 1], instant].join('|')];
}

const C4BB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/';
/** Patients with a payer member id (payer_transitions.csv), who are also C4BB Patients. */
const MEMBERS = new Set(
  readTable('payer_transitions')
    .filter((r) => r.MEMBERID)
    .map((r) => r.PATIENT),
);

/** The profiles a resource must claim: its US Core profile, plus the CARIN BB one where the mapping meets it. */
function expectedProfiles(r: Obs): string[] {
  if (BASE_R4_TYPES.includes(r.resourceType)) return [];
  const usCore = expectedProfile(r);
  if (r.resourceType === 'Practitioner') return [usCore];
  if (r.resourceType === 'Organization') return [usCore, `${C4BB}C4BB-Organization|2.0.0`];
  if (r.resourceType === 'Patient' && MEMBERS.has(r.id)) return [usCore, `${C4BB}C4BB-Patient|2.0.0`];
  return [usCore];
}

for (const connector of ['synthea-csv', 'synthea-sqlite']) {
  describe(`Synthea sample exported from connectors/${connector}.yaml`, () => {
    let out: CollectedExport;
    beforeAll(async () => {
      out = await exportConnector(path.join(ROOT, 'connectors', `${connector}.yaml`), {}, [US_CORE_MAPPINGS]);
    }, 120_000);

    it('maps every row without an issue', () => {
      const reasons = out.errors.flatMap((o) => (o.issue as Array<{ diagnostics?: string }>).map((i) => i.diagnostics));
      expect(reasons.slice(0, 5)).toEqual([]);
      expect(out.summary.rejected.total).toBe(0);
    });

    it('yields per resourceType exactly the counts the CSV files imply', () => {
      const counts: Record<string, number> = {};
      for (const r of out.resources) counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
      expect(counts).toEqual(expectedCounts());
      expect(out.summary.counts).toEqual(counts);
    });

    it('gives every resource a unique id', () => {
      const keys = out.resources.map((r) => `${r.resourceType}/${r.id}`);
      expect(new Set(keys).size).toBe(keys.length);
    });

    it('validates every resource against the FHIR R4 JSON schema', () => {
      const validator = schemaValidator();
      const invalid = out.resources
        .map((r) => ({ ref: `${r.resourceType}/${r.id}`, violations: validator.validate(r) }))
        .filter((x) => x.violations.length > 0);
      expect(invalid.slice(0, 3)).toEqual([]);
    }, 60_000); // compiling the R4 schema takes seconds on a busy machine

    it('claims the right US Core profile (and C4BB profile where one applies) on every resource', () => {
      const wrong = out.resources
        .filter((r) => JSON.stringify(r.meta?.profile ?? []) !== JSON.stringify(expectedProfiles(r as unknown as Obs)))
        .map((r) => ({ ref: `${r.resourceType}/${r.id}`, profile: r.meta?.profile, expected: expectedProfiles(r as unknown as Obs) }));
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(out.resources.filter((r) => r.meta?.profile?.includes(`${C4BB}C4BB-Patient|2.0.0`))).toHaveLength(MEMBERS.size);
    });

    it("has every required (min ≥ 1) element of its profile's snapshot", () => {
      const missing = out.resources.flatMap((r) =>
        (r.meta?.profile ?? []).flatMap((p: string) =>
          missingRequiredElements(r, p).map((m) => `${r.resourceType}/${r.id} (${p.split('/').pop()}): ${m}`),
        ),
      );
      expect(missing.slice(0, 10)).toEqual([]);
    }, 60_000);

    it('gives the R4 base resources (ImagingStudy, SupplyDelivery) every element R4 requires', () => {
      const base = out.resources.filter((r) => BASE_R4_TYPES.includes(r.resourceType));
      expect(new Set(base.map((r) => r.resourceType))).toEqual(new Set(BASE_R4_TYPES));
      expect(base.flatMap((r) => missingBaseElements(r).map((m) => `${r.resourceType}/${r.id}: ${m}`))).toEqual([]);
      // the check sees what it should: a series without its uid and modality is caught
      const study = structuredClone(base.find((r) => r.resourceType === 'ImagingStudy')!) as unknown as {
        series: Array<Record<string, unknown>>;
      };
      delete study.series[0]!.uid;
      delete study.series[0]!.modality;
      expect(missingBaseElements(study as never)).toEqual(['ImagingStudy.series.uid', 'ImagingStudy.series.modality']);
    });

    it('groups every imaging_studies row (an image) into its study and series, once', () => {
      const rows = readTable('imaging_studies');
      const studies = out.resources.filter((r) => r.resourceType === 'ImagingStudy') as unknown as Array<{
        id: string;
        numberOfInstances: number;
        series: Array<{
          uid: string;
          modality: { system: string; code: string };
          instance: Array<{ uid: string; sopClass: { system: string; code: string } }>;
        }>;
      }>;
      const images = studies.flatMap((s) => s.series.flatMap((x) => x.instance.map((i) => `${s.id}|${x.uid}|${i.uid}|${i.sopClass.code}`)));
      expect(images.sort()).toEqual(rows.map((r) => `${r.Id}|${r.SERIES_UID}|${r.INSTANCE_UID}|urn:oid:${r.SOP_CODE}`).sort());
      for (const s of studies) expect(s.numberOfInstances).toBe(rows.filter((r) => r.Id === s.id).length);
      expect(studies.flatMap((s) => s.series.map((x) => x.modality.system))).toEqual(
        studies.flatMap((s) => s.series.map(() => 'http://dicom.nema.org/resources/ontology/DCM')),
      );
    });

    it('sums the quantity of identical supply rows into one SupplyDelivery', () => {
      const total = readTable('supplies').reduce((n, r) => n + Number(r.QUANTITY), 0);
      const deliveries = out.resources.filter((r) => r.resourceType === 'SupplyDelivery') as unknown as Array<{
        suppliedItem: { quantity: { value: number } };
      }>;
      expect(deliveries.reduce((n, d) => n + d.suppliedItem.quantity.value, 0)).toBe(total);
    });

    it('points every reference at a resource of the export', () => {
      const present = new Set(out.resources.map((r) => `${r.resourceType}/${r.id}`));
      const dangling = out.resources.flatMap((r) =>
        referencesOf(r)
          .filter((ref) => !present.has(ref))
          .map((ref) => `${r.resourceType}/${r.id} → ${ref}`),
      );
      expect(dangling.slice(0, 5)).toEqual([]);
    });

    it('writes no empty string, array or object', () => {
      const empty = out.resources.flatMap((r) => emptyValues(r).map((p) => `${r.resourceType}/${r.id}${p}`));
      expect(empty.slice(0, 5)).toEqual([]);
    });

    it('accounts for every observations row exactly once', () => {
      const rows = readTable('observations');
      const expected = rows.map(observationRowKey).sort();
      const observations = out.resources.filter((r) => r.resourceType === 'Observation') as unknown as Obs[];
      const got = observations.flatMap(rowKeysOf).sort();
      expect(got.length).toBe(expected.length);
      expect(got).toEqual(expected);
    });

    it('folds each systolic/diastolic pair into one blood-pressure panel with both values', () => {
      const rows = readTable('observations').filter((r) => r.CODE === SYSTOLIC || r.CODE === DIASTOLIC);
      const byMeasurement = new Map<string, Record<string, number>>();
      for (const r of rows) {
        const m = byMeasurement.get(measurementKey(r)) ?? {};
        m[r.CODE!] = Number(r.VALUE);
        byMeasurement.set(measurementKey(r), m);
      }
      const panels = (out.resources as unknown as Obs[]).filter((o) => o.code?.coding?.some((c) => c.code === '85354-9'));
      expect(panels.length).toBe(byMeasurement.size);
      for (const p of panels) {
        const key = [
          idOf(p.subject?.reference, 'Patient'),
          idOf(p.encounter?.reference, 'Encounter'),
          new Date(p.effectiveDateTime!).toISOString(),
        ].join('|');
        const values = Object.fromEntries((p.component ?? []).map((c) => [c.code!.coding![0]!.code, c.valueQuantity?.value]));
        expect(values).toEqual(byMeasurement.get(key));
      }
    });

    it("pushes an Observation `code` filter down through every Observation mapping's search table", async () => {
      const rows = readTable('observations');
      const codes = ['8867-4', '85354-9', 'QOLS'];
      const filtered = await exportConnector(
        path.join(ROOT, 'connectors', `${connector}.yaml`),
        {
          types: ['Observation'],
          typeFilters: { Observation: [[{ column: 'code', op: 'in', value: codes }]] },
        },
        [US_CORE_MAPPINGS],
      );
      const got: Record<string, number> = {};
      for (const o of filtered.resources as unknown as Obs[]) {
        const code = o.code!.coding![o.code!.coding!.length - 1]!.code!;
        got[code] = (got[code] ?? 0) + 1;
      }
      const measurements = new Set(rows.filter((r) => r.CODE === SYSTOLIC || r.CODE === DIASTOLIC).map(measurementKey)).size;
      expect(got).toEqual({
        '8867-4': rows.filter((r) => r.CODE === '8867-4').length,
        '85354-9': measurements,
        QOLS: rows.filter((r) => r.CODE === 'QOLS').length,
      });
    }, 60_000);

    it('groups the lab results of one draw into one DiagnosticReport referencing exactly them', () => {
      const labs = new Map<string, number>();
      for (const r of readTable('observations').filter((x) => x.CATEGORY === 'laboratory')) {
        labs.set(measurementKey(r), (labs.get(measurementKey(r)) ?? 0) + 1);
      }
      const byId = new Map(out.resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
      const reports = out.resources.filter((r) => r.resourceType === 'DiagnosticReport') as unknown as Array<
        Obs & { result?: Array<{ reference: string }> }
      >;
      for (const d of reports) {
        const key = [
          idOf(d.subject?.reference, 'Patient'),
          idOf(d.encounter?.reference, 'Encounter'),
          new Date(d.effectiveDateTime!).toISOString(),
        ].join('|');
        expect(d.result?.length).toBe(labs.get(key));
        for (const ref of d.result ?? []) {
          const o = byId.get(ref.reference) as unknown as Obs;
          expect(o.category?.[0]?.coding?.[0]?.code).toBe('laboratory');
          expect(new Date(o.effectiveDateTime!).toISOString()).toBe(new Date(d.effectiveDateTime!).toISOString());
        }
      }
    });
  });
}
