// The MIMIC-IV demo exported through mappings/mimic-iv from its CSV files and from SQLite (loaded once with
// load-csv), checked against an independent reading of the CSV files: every row of every mapped table
// becomes a resource, each passes the R4 schema and has its US Core profile's required elements, ICU stays
// are part of their admissions, both sources agree, and a SQL cohort exports at Group level.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { buildServer, type BulkServer } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import type { FhirResource } from '../../src/mapping/types.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { loadCsv } from '../../src/sample/load-csv.js';
import { readTableSchema } from '../../src/sample/table-schema.js';
import { itConformsToR4 } from '../support/conformance-checks.js';
import { exportOverHttp, patientRefs } from '../support/e2e-support.js';
import { exportConfig, type CollectedExport } from '../synthea/collect-export.js';
import { MIMIC_CSV, MIMIC_TABLES, ROOT, expectedCounts, expectedRowsRead, readMimic } from './mimic-source.js';

type Resource = FhirResource & {
  meta?: { profile?: string[] };
  code?: { coding?: Array<{ system?: string; code?: string }> };
  partOf?: { reference?: string };
  valueQuantity?: { value?: number; unit?: string };
  component?: Array<{ valueQuantity?: { value?: number } }>;
  location?: Array<{ location?: { display?: string } }>;
};

let dir: string;
let sqliteConfig: ConnectorConfig;
const out: Record<'csv' | 'sqlite', CollectedExport> = {} as Record<'csv' | 'sqlite', CollectedExport>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mimic-export-'));
  const csvConfig = await loadConnectorConfig(path.join(ROOT, 'connectors', 'mimic-csv.yaml'));
  sqliteConfig = { ...csvConfig, name: 'mimic-sqlite-test', kind: 'sqlite', path: path.join(dir, 'mimic.sqlite') };
  delete (sqliteConfig as { delimiter?: string }).delimiter;
  await loadCsv(sqliteConfig, await readTableSchema(MIMIC_TABLES), { folder: MIMIC_CSV });
  out.csv = await exportConfig(csvConfig);
  out.sqlite = await exportConfig(sqliteConfig);
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// The CSV export is checked in depth; SQLite's is then shown identical to it (below), which covers it too.
for (const source of ['csv'] as const) {
  describe(`MIMIC-IV demo exported from ${source}`, () => {
    const resources = (): Resource[] => out[source].resources as Resource[];

    it('maps every row without an issue and reads every row of every mapped table', () => {
      const reasons = out[source].errors.flatMap((o) => (o.issue as Array<{ diagnostics?: string }>).map((i) => i.diagnostics));
      expect(reasons.slice(0, 5)).toEqual([]);
      expect(out[source].summary.rowsRead).toEqual(expectedRowsRead());
      const counts: Record<string, number> = {};
      for (const r of resources()) counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
      expect(counts).toEqual(expectedCounts());
    }, 120_000); // the first test parses labevents.csv.gz (108,000 rows)

    it('makes every ICU stay an Encounter part of its admission, and every admission transfer one of its locations', () => {
      const byRef = new Map(resources().map((r) => [`${r.resourceType}/${r.id}`, r]));
      for (const s of readMimic('icustays'))
        expect(byRef.get(`Encounter/icu-${s.stay_id}`)?.partOf?.reference).toBe(`Encounter/${s.hadm_id}`);
      for (const a of readMimic('admissions')) {
        const units = readMimic('transfers')
          .filter((t) => t.hadm_id === a.hadm_id && t.careunit)
          .map((t) => t.careunit)
          .sort();
        const got = (byRef.get(`Encounter/${a.hadm_id}`)?.location ?? []).map((l) => l.location?.display).sort();
        expect(got).toEqual(units);
      }
    });

    it('codes diagnoses in ICD-9-CM or ICD-10-CM by icd_version, and keeps lab values and blood pressures', () => {
      const byRef = new Map(resources().map((r) => [`${r.resourceType}/${r.id}`, r]));
      const systems: Record<string, string> = { '9': 'http://hl7.org/fhir/sid/icd-9-cm', '10': 'http://hl7.org/fhir/sid/icd-10-cm' };
      const wrong = readMimic('diagnoses_icd').filter((d) => {
        const coding = byRef.get(`Condition/${d.hadm_id}-${d.seq_num}`)?.code?.coding?.[0];
        return coding?.system !== systems[d.icd_version!] || coding?.code !== d.icd_code;
      });
      expect(wrong.slice(0, 3)).toEqual([]);
      const labs = readMimic('labevents').filter((l) => l.valuenum);
      const badLabs = labs.filter((l) => byRef.get(`Observation/lab-${l.labevent_id}`)?.valueQuantity?.value !== Number(l.valuenum));
      expect(badLabs.slice(0, 3)).toEqual([]);
      const pressures = readMimic('omr').filter((r) => r.result_name!.startsWith('Blood Pressure'));
      const panels = resources().filter((r) => r.code?.coding?.some((c) => c.code === '85354-9'));
      expect(panels.map((p) => p.component!.map((c) => c.valueQuantity?.value).join('/')).sort()).toEqual(
        pressures.map((r) => r.result_value!.split('/').map(Number).join('/')).sort(),
      );
    }, 60_000);

    itConformsToR4(resources, 120_000);
  });
}

describe('MIMIC-IV demo from CSV and SQLite', () => {
  it('exports the same resources (ids and content) from both', () => {
    expect(out.sqlite.errors).toEqual([]);
    expect(out.sqlite.summary.rowsRead).toEqual(expectedRowsRead());
    // the same engine writes keys in the same order for the same data, so JSON text compares content
    const csv = new Map(out.csv.resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
    expect(csv.size).toBe(out.csv.resources.length);
    expect(out.sqlite.resources.length).toBe(csv.size);
    const differ: string[] = [];
    for (const r of out.sqlite.resources) {
      const json = JSON.stringify(r);
      const other = JSON.stringify(csv.get(`${r.resourceType}/${r.id}`));
      if (json !== other && differ.push(`sqlite: ${json.slice(0, 400)}\ncsv:    ${String(other).slice(0, 400)}`) >= 3) break;
    }
    expect(differ).toEqual([]);
  }, 120_000);
});

describe('MIMIC-IV Group export through the server (connectors/_mimic-groups.yaml)', () => {
  let source: OpenedSource;
  let server: BulkServer;
  let base: string;

  beforeAll(async () => {
    const file = path.join(dir, 'mimic-sqlite.yaml');
    await writeFile(
      file,
      [
        'name: mimic-sqlite-groups',
        'kind: sqlite',
        `path: ${JSON.stringify(sqliteConfig.path)}`,
        'timezone: UTC',
        `mappings: [${JSON.stringify(path.join(ROOT, 'mappings', 'mimic-iv'))}]`,
        `groups: { $include: ${JSON.stringify(`${path.join(ROOT, 'connectors', '_mimic-groups.yaml')}#groups`)} }`,
      ].join('\n'),
    );
    source = await openSource(file);
    server = await buildServer({
      source,
      store: new SqliteJobStore(path.join(dir, 'jobs.sqlite')),
      dataDir: dir,
      auth: { mode: 'open' },
      retryAfterSeconds: 1,
      minPollIntervalMs: 200,
    });
    base = await server.listen(0, '127.0.0.1');
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await source?.close();
  });

  it('exports the sepsis cohort (ICD-10 A41.x, ICD-9 038.x/995.91/995.92) with its admissions and ICU stays', async () => {
    const cohort = new Set(
      readMimic('diagnoses_icd')
        .filter(
          (d) =>
            (d.icd_version === '10' && d.icd_code!.startsWith('A41')) ||
            (d.icd_version === '9' && (d.icd_code!.startsWith('038') || ['99591', '99592'].includes(d.icd_code!))),
        )
        .map((d) => d.subject_id!),
    );
    expect(cohort.size).toBeGreaterThan(0);
    const run = await exportOverHttp(`${base}/fhir/Group/sepsis/$export?_type=Patient,Encounter`);
    expect(run.violations).toEqual([]);
    expect(run.errors).toEqual([]);
    expect(run.resources.Patient!.map((p) => String(p.id)).sort()).toEqual([...cohort].sort());
    const inCohort = (r: { subject_id?: string }) => cohort.has(r.subject_id!);
    const encounters =
      readMimic('admissions').filter(inCohort).length +
      readMimic('icustays').filter(inCohort).length +
      readMimic('transfers').filter((t) => !t.hadm_id && inCohort(t)).length;
    expect(run.resources.Encounter!.length).toBe(encounters);
    for (const e of run.resources.Encounter!) expect(cohort.has(patientRefs(e)[0]!)).toBe(true);
  }, 120_000);
});
