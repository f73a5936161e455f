// End to end over real HTTP with the real pipeline: the Synthea sample in SQLite, SMART auth on, a client
// that kicks off, polls (honouring Retry-After), downloads and validates every NDJSON line against the
// R4 JSON schema, for system, Patient and Group level.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type OpenedSource } from '../pipeline/open-source.js';
import { ClientRegistry } from './auth/client-registry.js';
import { exportOverHttp, patientRefs, writeConnectorFile } from '../../test/support/e2e-support.js';
import { SqliteJobStore } from '../jobs/job-store-sqlite.js';
import { buildServer, type BulkServer } from './app.js';
import { MAX_TYPE_FILTER_VALUES } from './kickoff/params.js';
import { makeTestClient, signAssertion, tokenRequestBody, type TestClient } from '../../test/support/test-clients.js';

let dir: string;
let source: OpenedSource;
let server: BulkServer;
let base: string;
let client: TestClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-e2e-'));
  const connector = await writeConnectorFile(dir, {
    name: 'e2e-sqlite',
    kind: 'sqlite',
    path: join(dir, 'synthea.sqlite'),
    sample: 'synthea',
  });
  source = await openSource(connector);
  client = await makeTestClient('e2e', 'ES384');
  server = await buildServer({
    source,
    store: new SqliteJobStore(join(dir, 'jobs.sqlite')),
    dataDir: dir,
    auth: { mode: 'smart', clients: new ClientRegistry([{ id: client.id, jwks: { keys: [client.publicJwk] }, scope: 'system/*.read' }]) },
    retryAfterSeconds: 1,
    minPollIntervalMs: 500,
    maxResourcesPerFile: 1000,
  });
  base = await server.listen(0, '127.0.0.1');
}, 120_000);

afterAll(async () => {
  await server?.close();
  await source?.close();
  await rm(dir, { recursive: true, force: true });
});

async function token(): Promise<string> {
  const tokenUrl = `${base}/auth/token`;
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenRequestBody(await signAssertion(client, tokenUrl), 'system/*.read'),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('bulk export end to end (SQLite sample, real pipeline, real HTTP)', () => {
  let systemPatients: string[] = [];

  it('system level: every mapped type, every line valid R4, one type per file', async () => {
    const run = await exportOverHttp(`${base}/fhir/$export`, { token: await token() });
    expect(run.violations).toEqual([]);
    const types = Object.keys(run.resources).sort();
    expect(types).toEqual(expect.arrayContaining(['Condition', 'Encounter', 'Observation', 'Patient', 'Practitioner', 'Organization']));
    expect(new Set(run.manifest.output.map((o) => o.type))).toEqual(new Set(types));
    expect(run.manifest.output.every((o) => (o.count ?? 0) > 0)).toBe(true);
    systemPatients = run.resources.Patient!.map((p) => String(p.id));
    expect(systemPatients).toHaveLength(11);
    expect(run.resources.Observation!.length).toBeGreaterThan(1000);
    expect(run.manifest.output.filter((o) => o.type === 'Observation').length).toBeGreaterThan(1); // split at 1000 per file
  }, 120_000);

  it('Patient level: only patient-compartment types; _type, _since and _typeFilter narrow it', async () => {
    const t = await token();
    const all = await exportOverHttp(`${base}/fhir/Patient/$export`, { token: t });
    expect(all.violations).toEqual([]);
    expect(all.resources.Practitioner).toBeUndefined();
    expect(all.resources.Organization).toBeUndefined();
    expect(all.resources.Patient).toHaveLength(11);

    const filtered = await exportOverHttp(
      `${base}/fhir/Patient/$export?_type=Condition&_typeFilter=${encodeURIComponent('Condition?code=444814009')}`,
      { token: t },
    );
    expect(Object.keys(filtered.resources)).toEqual(['Condition']);
    const codes = new Set(filtered.resources.Condition!.map((c) => (c.code as { coding: Array<{ code: string }> }).coding[0]!.code));
    expect([...codes]).toEqual(['444814009']);
    expect(filtered.resources.Condition!.length).toBe(13);
    expect(filtered.manifest.request).toContain('_typeFilter=');

    // the sample's rows were last updated on SAMPLE_LAST_UPDATED (the loader's change tracking)
    const before = await exportOverHttp(`${base}/fhir/Patient/$export?_type=Patient&_since=2000-01-01T00:00:00Z`, { token: t });
    expect(before.resources.Patient).toHaveLength(11);
    expect(before.manifest.extension).toBeUndefined(); // the Patient mapping applied _since
    const after = await exportOverHttp(`${base}/fhir/Patient/$export?_type=Patient&_since=2025-01-01T00:00:00Z`, { token: t });
    expect(after.resources.Patient).toBeUndefined();
    expect(after.manifest.deleted).toBeUndefined();
  }, 120_000);

  it('_typeFilter at the search-value limit runs on the real source; one value more is a 400 at kick-off', async () => {
    const t = await token();
    const codes = (n: number) => ['444814009', ...Array.from({ length: n - 1 }, (_, i) => `9${String(i).padStart(8, '0')}`)].join(',');
    const body = (n: number) => ({
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Condition' },
        { name: '_typeFilter', valueString: `Condition?code=${codes(n)}` },
      ],
    });
    const run = await exportOverHttp(`${base}/fhir/Patient/$export`, { token: t, method: 'POST', body: body(MAX_TYPE_FILTER_VALUES) });
    expect(run.resources.Condition).toHaveLength(13);
    const over = await fetch(`${base}/fhir/Patient/$export`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t}`,
        accept: 'application/fhir+json',
        prefer: 'respond-async',
        'content-type': 'application/fhir+json',
      },
      body: JSON.stringify(body(MAX_TYPE_FILTER_VALUES + 1)),
    });
    expect(over.status).toBe(400);
    expect(((await over.json()) as { issue: Array<{ code: string }> }).issue[0]!.code).toBe('too-costly');
  }, 120_000);

  it("Patient level with patient (POST): only that patient's compartment", async () => {
    const t = await token();
    const id = systemPatients[0]!;
    const run = await exportOverHttp(`${base}/fhir/Patient/$export`, {
      token: t,
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Patient,Condition,Encounter' },
          { name: 'patient', valueReference: { reference: `Patient/${id}` } },
        ],
      },
    });
    expect(run.violations).toEqual([]);
    expect(run.resources.Patient!.map((p) => p.id)).toEqual([id]);
    for (const r of [...(run.resources.Condition ?? []), ...(run.resources.Encounter ?? [])]) expect(patientRefs(r)).toEqual([id]);
  }, 120_000);

  it('includeAssociatedData adds the Provenance the mappings produce, even when _type leaves it out', async () => {
    const t = await token();
    const run = await exportOverHttp(`${base}/fhir/Patient/$export?_type=Encounter&includeAssociatedData=LatestProvenanceResources`, {
      token: t,
    });
    expect(run.violations).toEqual([]);
    expect(Object.keys(run.resources).sort()).toEqual(['Encounter', 'Provenance']);
    const encounters = new Set(run.resources.Encounter!.map((e) => `Encounter/${String(e.id)}`));
    for (const p of run.resources.Provenance!) {
      for (const target of p.target as Array<{ reference: string }>) expect(encounters.has(target.reference)).toBe(true);
    }
  }, 120_000);

  it('Group level: the Group resource lists the members and the export holds only their data', async () => {
    const t = await token();
    const g = await fetch(`${base}/fhir/Group/sinusitis`, { headers: { authorization: `Bearer ${t}` } });
    expect(g.status).toBe(200);
    const group = (await g.json()) as { quantity: number; member: Array<{ entity: { reference: string } }> };
    const members = group.member.map((m) => m.entity.reference.slice('Patient/'.length)).sort();
    expect(members.length).toBe(group.quantity);
    expect(members.length).toBeGreaterThan(0);
    expect(members.length).toBeLessThan(11);

    const run = await exportOverHttp(`${base}/fhir/Group/sinusitis/$export?_type=Patient,Condition,Observation&_elements=id,code,subject`, {
      token: t,
    });
    expect(run.violations).toEqual([]);
    expect(run.resources.Patient!.map((p) => String(p.id)).sort()).toEqual(members);
    for (const r of [...run.resources.Condition!, ...(run.resources.Observation ?? [])]) {
      expect(members).toContain(patientRefs(r)[0]);
      expect(Object.keys(r)).not.toContain('onsetDateTime');
      // the tag exactly as FHIR writes it: system and code, nothing else
      expect((r.meta as { tag?: Array<{ code: string }> }).tag?.filter((t) => t.code === 'SUBSETTED')).toStrictEqual([
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' },
      ]);
    }
    const women = await fetch(`${base}/fhir/Group?name=female`, { headers: { authorization: `Bearer ${t}` } });
    expect(((await women.json()) as { total: number }).total).toBe(1);
  }, 120_000);
});
