// The OMOP CDM 5.4 sample (Synthea27Nj) exported through mappings/omop-cdm54 from its CSV files and from
// SQLite (loaded once with load-csv), checked against an independent reading of the CSV files and CONCEPT:
// every row of every mapped table becomes one resource, which passes the R4 schema and has its US Core
// profile's required elements; both sources give the same resources; a SQL cohort exports at Group level
// through the server.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { buildServer, type BulkServer } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import type { FhirResource } from '../../src/mapping/types.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { loadCsv, type LoadCsvResult } from '../../src/sample/load-csv.js';
import { readTableSchema } from '../../src/sample/table-schema.js';
import { itConformsToR4 } from '../support/conformance-checks.js';
import { exportOverHttp, patientRefs } from '../support/e2e-support.js';
import { canonical, exportConfig, type CollectedExport } from '../synthea/collect-export.js';
import {
  MAPPING_TABLES,
  OMOP_CSV,
  OMOP_TABLES,
  ROOT,
  concept,
  expectedCounts,
  measurementProfile,
  observationProfile,
  readOmop,
} from './omop-source.js';

interface Coding {
  system?: string;
  code?: string;
}
type Resource = FhirResource & {
  meta?: { profile?: string[] };
  category?: Array<{ coding?: Coding[] }>;
  code?: { coding?: Coding[]; text?: string };
  subject?: { reference?: string };
  valueQuantity?: { value?: number };
  deceasedDateTime?: string;
  partOf?: { reference?: string };
};

let dir: string;
let sqliteConfig: ConnectorConfig;
let loaded: LoadCsvResult;
const out: Record<'csv' | 'sqlite', CollectedExport> = {} as Record<'csv' | 'sqlite', CollectedExport>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'omop-export-'));
  const csvConfig = await loadConnectorConfig(path.join(ROOT, 'connectors', 'omop-csv.yaml'));
  sqliteConfig = { ...csvConfig, name: 'omop-sqlite-test', kind: 'sqlite', path: path.join(dir, 'omop.sqlite') };
  delete (sqliteConfig as { delimiter?: string }).delimiter;
  loaded = await loadCsv(sqliteConfig, await readTableSchema(OMOP_TABLES), { folder: OMOP_CSV });
  out.csv = await exportConfig(csvConfig);
  out.sqlite = await exportConfig(sqliteConfig);
}, 240_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('load-csv with connectors/tables/omop-cdm54.yaml', () => {
  it('loads every row of every table of the schema', () => {
    const expected = Object.fromEntries(
      ['location', 'care_site', 'provider', 'person', 'observation_period', 'visit_occurrence', 'visit_detail', 'condition_occurrence']
        .concat(['drug_exposure', 'procedure_occurrence', 'device_exposure', 'measurement', 'observation', 'death', 'payer_plan_period'])
        .concat(['concept'])
        .map((t) => [t, readOmop(t).length]),
    );
    expect(loaded.tables).toEqual(expected);
  });
});

// The CSV export is checked in depth; SQLite's is then shown identical to it (below), which covers it too.
for (const source of ['csv'] as const) {
  describe(`OMOP sample exported from ${source}`, () => {
    const resources = (): Resource[] => out[source].resources as Resource[];
    const byRef = (): Map<string, Resource> => new Map(resources().map((r) => [`${r.resourceType}/${r.id}`, r]));

    it('maps every row without an issue', () => {
      const reasons = out[source].errors.flatMap((o) => (o.issue as Array<{ diagnostics?: string }>).map((i) => i.diagnostics));
      expect(reasons.slice(0, 5)).toEqual([]);
      expect(out[source].summary.rejected.total).toBe(0);
    });

    it('reads every row of every mapped table and writes per type the counts the CSV files imply', () => {
      const rowsRead = Object.fromEntries(Object.entries(MAPPING_TABLES).map(([m, t]) => [m, readOmop(t).length]));
      expect(out[source].summary.rowsRead).toEqual(rowsRead);
      const counts: Record<string, number> = {};
      for (const r of resources()) counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
      expect(counts).toEqual(expectedCounts());
    });

    it('makes each MEASUREMENT row the Observation of its profile, code, subject and value', () => {
      const all = byRef();
      const wrong: string[] = [];
      for (const row of readOmop('measurement')) {
        const o = all.get(`Observation/m-${row.measurement_id}`);
        const want = measurementProfile(row);
        const c = concept(row.measurement_concept_id)!;
        const got = {
          profile: o?.meta?.profile,
          category: o?.category?.[0]?.coding?.[0]?.code,
          code: o?.code?.coding?.[0]?.code,
          subject: o?.subject?.reference,
          value: o?.valueQuantity?.value,
        };
        const expected = {
          profile: [want.profile],
          category: want.category,
          code: c.code,
          subject: `Patient/${row.person_id}`,
          value: row.value_as_number ? Number(row.value_as_number) : undefined,
        };
        if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`${row.measurement_id}: ${JSON.stringify({ got, expected })}`);
      }
      expect(wrong.slice(0, 3)).toEqual([]);
    });

    it('makes each OBSERVATION row the Observation of its profile and code', () => {
      const all = byRef();
      const wrong = readOmop('observation').filter((row) => {
        const o = all.get(`Observation/o-${row.observation_id}`);
        const want = observationProfile(row);
        return (
          o?.meta?.profile?.[0] !== want.profile ||
          o.category?.[0]?.coding?.[0]?.code !== want.category ||
          o.code?.coding?.[0]?.code !== concept(row.observation_concept_id)?.code
        );
      });
      expect(wrong.slice(0, 3)).toEqual([]);
    });

    it('codes conditions, drugs and procedures in their concept vocabulary (SNOMED, RxNorm) through CONCEPT', () => {
      const all = byRef();
      const systems: Record<string, string> = { SNOMED: 'http://snomed.info/sct', RxNorm: 'http://www.nlm.nih.gov/research/umls/rxnorm' };
      const check = (table: string, type: string, column: string, element: 'code' | 'medicationCodeableConcept'): string[] =>
        readOmop(table).flatMap((row) => {
          const c = concept(row[column])!;
          const r = all.get(`${type}/${Object.values(row)[0]}`) as Record<string, { coding?: Coding[] }> | undefined;
          const coding = r?.[element]?.coding?.[0];
          return coding?.system === systems[c.vocabulary] && coding?.code === c.code ? [] : [`${type}/${Object.values(row)[0]}`];
        });
      expect(check('condition_occurrence', 'Condition', 'condition_concept_id', 'code').slice(0, 3)).toEqual([]);
      expect(check('drug_exposure', 'MedicationRequest', 'drug_concept_id', 'medicationCodeableConcept').slice(0, 3)).toEqual([]);
      expect(check('procedure_occurrence', 'Procedure', 'procedure_concept_id', 'code').slice(0, 3)).toEqual([]);
    });

    it('marks exactly the persons in DEATH as deceased, and makes each VISIT_DETAIL part of its visit', () => {
      const all = byRef();
      const deceased = resources()
        .filter((r) => r.resourceType === 'Patient' && r.deceasedDateTime)
        .map((r) => r.id)
        .sort();
      expect(deceased).toEqual(
        readOmop('death')
          .map((d) => d.person_id)
          .sort(),
      );
      for (const d of readOmop('visit_detail')) {
        expect(all.get(`Encounter/vd-${d.visit_detail_id}`)?.partOf?.reference).toBe(`Encounter/${d.visit_occurrence_id}`);
      }
    });

    itConformsToR4(resources, 60_000);
  });
}

describe('OMOP sample from CSV and SQLite', () => {
  it('exports the same resources (ids and content) from both', () => {
    const a = canonical(out.csv.resources);
    const b = canonical(out.sqlite.resources);
    expect(out.sqlite.errors).toEqual([]);
    expect(a.length).toBe(Object.values(expectedCounts()).reduce((n, c) => n + c, 0));
    expect(b).toEqual(a);
  });
});

describe('OMOP Group export through the server (connectors/_omop-groups.yaml)', () => {
  let source: OpenedSource;
  let server: BulkServer;
  let base: string;

  beforeAll(async () => {
    const { writeFile } = await import('node:fs/promises');
    const file = path.join(dir, 'omop-sqlite.yaml');
    await writeFile(
      file,
      [
        'name: omop-sqlite-groups',
        'kind: sqlite',
        `path: ${JSON.stringify(sqliteConfig.path)}`,
        'timezone: UTC',
        `mappings: [${JSON.stringify(path.join(ROOT, 'mappings', 'omop-cdm54'))}]`,
        `groups: { $include: ${JSON.stringify(`${path.join(ROOT, 'connectors', '_omop-groups.yaml')}#groups`)} }`,
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

  it('exports exactly the cohort the SQL selects (persons with SNOMED 444814009 viral sinusitis) and their data', async () => {
    const cohort = new Set(
      readOmop('condition_occurrence')
        .filter((r) => concept(r.condition_concept_id)?.code === '444814009')
        .map((r) => r.person_id!),
    );
    expect(cohort.size).toBeGreaterThan(0);
    const g = await fetch(`${base}/fhir/Group/viral-sinusitis`);
    expect(g.status).toBe(200);
    const group = (await g.json()) as { quantity: number; member: Array<{ entity: { reference: string } }> };
    expect(group.member.map((m) => m.entity.reference).sort()).toEqual([...cohort].map((p) => `Patient/${p}`).sort());

    const run = await exportOverHttp(`${base}/fhir/Group/viral-sinusitis/$export?_type=Patient,Condition,Encounter`);
    expect(run.violations).toEqual([]);
    expect(run.errors).toEqual([]);
    expect(run.resources.Patient!.map((p) => String(p.id)).sort()).toEqual([...cohort].sort());
    const conditions = readOmop('condition_occurrence').filter((r) => cohort.has(r.person_id!));
    expect(run.resources.Condition!.length).toBe(conditions.length);
    const visits = readOmop('visit_occurrence').filter((r) => cohort.has(r.person_id!)).length;
    const details = readOmop('visit_detail').filter((r) => cohort.has(r.person_id!)).length;
    expect(run.resources.Encounter!.length).toBe(visits + details);
    for (const r of [...run.resources.Condition!, ...run.resources.Encounter!]) expect(cohort.has(patientRefs(r)[0]!)).toBe(true);
  }, 120_000);
});
