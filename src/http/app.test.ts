// The $export HTTP edge with a fake source and executor (open mode); auth is in auth.test.ts, the real
// pipeline over real HTTP in export-e2e.test.ts.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { schemaValidator } from '../fhir/schema-validator.js';
import { SqliteJobStore } from '../jobs/job-store-sqlite.js';
import { fakeServer } from '../../test/support/test-server.js';
import type { ExportManifest } from '../jobs/types.js';

type Server = Awaited<ReturnType<typeof fakeServer>>;
let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  servers = [];
});
async function start(...args: Parameters<typeof fakeServer>): Promise<Server> {
  const s = await fakeServer(...args);
  servers.push(s);
  return s;
}

async function kickoff(s: Server, url: string, init: { method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> } = {}) {
  return s.app.inject({
    method: init.method ?? 'GET',
    url,
    headers: {
      accept: 'application/fhir+json',
      prefer: 'respond-async',
      ...(init.body ? { 'content-type': 'application/fhir+json' } : {}),
      ...init.headers,
    },
    ...(init.body ? { payload: JSON.stringify(init.body) } : {}),
  });
}

async function finish(s: Server, statusUrl: string) {
  const path = new URL(statusUrl).pathname;
  for (;;) {
    const res = await s.app.inject({ method: 'GET', url: path });
    if (res.statusCode !== 202) return res;
    await s.runner.idle();
    await new Promise((r) => setTimeout(r, 10)); // a job another instance holds is not in this runner's queue
  }
}

async function download(s: Server, url: string, headers: Record<string, string> = {}) {
  return s.app.inject({ method: 'GET', url: new URL(url).pathname, headers });
}

async function exportLines(s: Server, manifest: ExportManifest, type: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const f of manifest.output.filter((o) => o.type === type)) {
    const res = await download(s, f.url);
    out.push(
      ...res.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  }
  return out;
}

describe('$export server', () => {
  it('serves a CapabilityStatement that instantiates bulk-data and is valid R4', async () => {
    const s = await start();
    const res = await s.app.inject({ method: 'GET', url: '/fhir/metadata' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    const cs = res.json();
    expect(schemaValidator().validate(cs)).toEqual([]);
    expect(cs.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    expect(cs.rest[0].operation).toEqual([{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }]);
    const defs = cs.rest[0].resource.flatMap((r: { operation?: Array<{ definition: string }> }) =>
      (r.operation ?? []).map((o) => o.definition),
    );
    expect(defs).toEqual(
      expect.arrayContaining([
        'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
        'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
      ]),
    );
    expect(cs.rest[0].security).toBeUndefined();
    expect((await s.app.inject({ method: 'GET', url: '/fhir/.well-known/smart-configuration' })).statusCode).toBe(404);
  });

  it('runs a system export: 202 + Content-Location, then the manifest with Expires, then the files', async () => {
    const s = await start();
    const res = await kickoff(s, '/fhir/$export?_type=Patient,Observation');
    expect(res.statusCode).toBe(202);
    const location = res.headers['content-location'] as string;
    expect(location).toMatch(/^http:\/\/localhost(:\d+)?\/jobs\/[0-9a-f-]{36}$/);
    const done = await finish(s, location);
    expect(done.statusCode).toBe(200);
    expect(done.headers['content-type']).toContain('application/json');
    expect(Date.parse(done.headers.expires as string)).toBeGreaterThan(Date.now());
    const manifest = done.json() as ExportManifest;
    expect(manifest.request).toMatch(/^http:\/\/localhost(:\d+)?\/fhir\/\$export\?_type=Patient,Observation$/);
    expect(manifest.requiresAccessToken).toBe(false);
    expect(Date.parse(manifest.transactionTime)).not.toBeNaN();
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    expect(manifest.error).toEqual([]);
    const patientFile = manifest.output.find((o) => o.type === 'Patient')!;
    expect(patientFile.count).toBe(3);
    const file = await download(s, patientFile.url);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('application/fhir+ndjson');
    expect(
      file.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['p1', 'p2', 'p3']);
    const gz = await download(s, patientFile.url, { 'accept-encoding': 'gzip, deflate' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString('utf8')).toBe(file.body);
  });

  it('inflates files stored gzipped for clients that do not accept gzip, and sends them as they are to those that do', async () => {
    const s = await start({ control: { gzip: true } });
    const res = await kickoff(s, '/fhir/$export?_type=Patient');
    const manifest = (await finish(s, res.headers['content-location'] as string)).json() as ExportManifest;
    expect(manifest.output[0]!.url).toMatch(/\.ndjson\.gz$/);
    const plain = await download(s, manifest.output[0]!.url, { 'accept-encoding': 'identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(
      plain.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    ).toEqual(['p1', 'p2', 'p3']);
    const gz = await download(s, manifest.output[0]!.url, { 'accept-encoding': 'gzip;q=1' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString('utf8')).toBe(plain.body);
    expect((await download(s, manifest.output[0]!.url.replace('Patient.', 'Nope.'))).statusCode).toBe(404);
  });

  it('limits Patient-level exports to the patient compartment and reports lenient-ignored types', async () => {
    const s = await start();
    const strict = await kickoff(s, '/fhir/Patient/$export?_type=Patient,Practitioner');
    expect(strict.statusCode).toBe(400);
    expect(strict.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] });
    expect(strict.json().issue[0].diagnostics).toContain('Practitioner');

    const lenient = await kickoff(s, '/fhir/Patient/$export?_type=Patient,Practitioner', {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    expect(lenient.statusCode).toBe(202);
    const manifest = (await finish(s, lenient.headers['content-location'] as string)).json() as ExportManifest;
    expect(manifest.output.map((o) => o.type)).toEqual(['Patient']);
    expect(manifest.error).toHaveLength(1);
    const errors = (await download(s, manifest.error[0]!.url)).body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(errors).toHaveLength(1);
    expect(errors[0].issue[0].diagnostics).toContain('Practitioner');
    expect(schemaValidator().validate(errors[0])).toEqual([]);

    const all = await kickoff(s, '/fhir/Patient/$export');
    const m2 = (await finish(s, all.headers['content-location'] as string)).json() as ExportManifest;
    expect(m2.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
  });

  it('exports a Group: only its members, and serves the Group resource', async () => {
    const s = await start();
    const group = await s.app.inject({ method: 'GET', url: '/fhir/Group/panel-a' });
    expect(group.statusCode).toBe(200);
    const g = group.json();
    expect(schemaValidator().validate(g)).toEqual([]);
    expect(g).toMatchObject({ resourceType: 'Group', id: 'panel-a', name: 'Panel A', type: 'person', actual: true, quantity: 2 });
    expect(g.member.map((m: { entity: { reference: string } }) => m.entity.reference)).toEqual(['Patient/p1', 'Patient/p3']);
    expect(g.text.div).toContain('Dr &lt;A&gt;');
    const search = (await s.app.inject({ method: 'GET', url: '/fhir/Group?name=panel' })).json();
    expect(search).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect((await s.app.inject({ method: 'GET', url: '/fhir/Group?name=zzz' })).json().total).toBe(0);
    expect((await s.app.inject({ method: 'GET', url: '/fhir/Group/nope' })).statusCode).toBe(404);
    expect((await kickoff(s, '/fhir/Group/nope/$export')).statusCode).toBe(404);

    const res = await kickoff(s, '/fhir/Group/panel-a/$export');
    const manifest = (await finish(s, res.headers['content-location'] as string)).json() as ExportManifest;
    expect((await exportLines(s, manifest, 'Patient')).map((p) => p.id)).toEqual(['p1', 'p3']);
    expect((await exportLines(s, manifest, 'Observation')).map((p) => p.id)).toEqual(['o1', 'o3']);
  });

  it('takes patient from a POST Parameters body; unknown patients and non-members are errors', async () => {
    const s = await start();
    const params = (...ids: string[]) => ({
      resourceType: 'Parameters',
      parameter: ids.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })),
    });
    const ok = await kickoff(s, '/fhir/Patient/$export', { method: 'POST', body: params('p2') });
    expect(ok.statusCode).toBe(202);
    const manifest = (await finish(s, ok.headers['content-location'] as string)).json() as ExportManifest;
    expect(manifest.request).not.toContain('?');
    expect((await exportLines(s, manifest, 'Observation')).map((o) => o.id)).toEqual(['o2']);

    const unknown = await kickoff(s, '/fhir/Patient/$export', { method: 'POST', body: params('p2', 'p9') });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().issue[0].diagnostics).toContain('Patient/p9');
    const outside = await kickoff(s, '/fhir/Group/panel-a/$export', { method: 'POST', body: params('p2') });
    expect(outside.statusCode).toBe(400);
    expect(outside.json().issue[0].diagnostics).toContain('not a member');
  });

  it('rejects bad parameters with a 400 OperationOutcome', async () => {
    const s = await start();
    for (const q of [
      '_since=2020-01-01',
      '_type=Bogus',
      '_outputFormat=application/json',
      '_type=MedicationRequest',
      '_typeFilter=Observation%3Fvalue%3D1',
    ]) {
      const res = await kickoff(s, `/fhir/$export?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().resourceType, q).toBe('OperationOutcome');
    }
    const res = await s.app.inject({ method: 'GET', url: '/nowhere' });
    expect(res.statusCode).toBe(404);
    expect(res.json().resourceType).toBe('OperationOutcome');
  });

  it('cancels: DELETE answers 202, the files go, later polls are 404 with an OperationOutcome', async () => {
    let release!: () => void;
    const s = await start({ control: { gate: new Promise<void>((r) => (release = r)) } });
    const res = await kickoff(s, '/fhir/$export');
    const path = new URL(res.headers['content-location'] as string).pathname;
    const running = await s.app.inject({ method: 'GET', url: path });
    expect(running.statusCode).toBe(202);
    expect(running.headers['x-progress']).toBeTruthy();
    expect(running.headers['retry-after']).toBe('2');
    const del = await s.app.inject({ method: 'DELETE', url: path });
    expect(del.statusCode).toBe(202);
    release();
    await s.runner.idle();
    const after = await s.app.inject({ method: 'GET', url: path });
    expect(after.statusCode).toBe(404);
    expect(after.json().resourceType).toBe('OperationOutcome');
    expect(existsSync(join(s.dataDir, 'jobs', path.split('/').pop()!))).toBe(false);
    expect((await s.app.inject({ method: 'DELETE', url: path })).statusCode).toBe(404);
  });

  it('cancelling a completed export deletes its files', async () => {
    const s = await start();
    const res = await kickoff(s, '/fhir/$export');
    const manifest = (await finish(s, res.headers['content-location'] as string)).json() as ExportManifest;
    const id = new URL(res.headers['content-location'] as string).pathname.split('/').pop()!;
    expect((await readdir(join(s.dataDir, 'jobs', id))).length).toBeGreaterThan(0);
    expect((await s.app.inject({ method: 'DELETE', url: `/jobs/${id}` })).statusCode).toBe(202);
    expect(existsSync(join(s.dataDir, 'jobs', id))).toBe(false);
    expect((await download(s, manifest.output[0]!.url)).statusCode).toBe(404);
  });

  it('answers a failed export with a 500 OperationOutcome', async () => {
    const s = await start({ control: { fail: new Error('database went away') } });
    const res = await kickoff(s, '/fhir/$export');
    const done = await finish(s, res.headers['content-location'] as string);
    expect(done.statusCode).toBe(500);
    expect(done.headers['content-type']).toContain('application/fhir+json');
    expect(done.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error' }] });
    expect(done.json().issue[0].diagnostics).toContain('database went away');
  });

  it('answers 429 with Retry-After to a client polling faster than allowed', async () => {
    let release!: () => void;
    const s = await start({ minPollIntervalMs: 60_000, retryAfterSeconds: 5, control: { gate: new Promise<void>((r) => (release = r)) } });
    const path = new URL((await kickoff(s, '/fhir/$export')).headers['content-location'] as string).pathname;
    expect((await s.app.inject({ method: 'GET', url: path })).statusCode).toBe(202);
    const fast = await s.app.inject({ method: 'GET', url: path });
    expect(fast.statusCode).toBe(429);
    expect(fast.headers['retry-after']).toBe('5');
    expect(fast.json().issue[0].code).toBe('throttled');
    release();
  });

  it('expires files: after the sweep the files are gone and the status is 404', async () => {
    const s = await start({ fileTtlSeconds: 60 });
    const res = await kickoff(s, '/fhir/$export');
    const location = res.headers['content-location'] as string;
    const manifest = (await finish(s, location)).json() as ExportManifest;
    const id = new URL(location).pathname.split('/').pop()!;
    expect(await s.runner.sweep(new Date(Date.now() + 30_000))).toEqual([]);
    expect((await download(s, manifest.output[0]!.url)).statusCode).toBe(200);
    expect(await s.runner.sweep(new Date(Date.now() + 61_000))).toEqual([id]);
    expect(existsSync(join(s.dataDir, 'jobs', id))).toBe(false);
    const poll = await s.app.inject({ method: 'GET', url: `/jobs/${id}` });
    expect(poll.statusCode).toBe(404);
    expect(poll.json().issue[0].diagnostics).toContain('expired');
  });

  it('does not delete the files of a job while one of them is being downloaded', async () => {
    const s = await start({ fileTtlSeconds: 1 });
    const res = await kickoff(s, '/fhir/$export');
    await finish(s, res.headers['content-location'] as string);
    const id = new URL(res.headers['content-location'] as string).pathname.split('/').pop()!;
    const done = s.runner.downloadStarted(id);
    expect(await s.runner.sweep(new Date(Date.now() + 5000))).toEqual([]);
    done();
    expect(await s.runner.sweep(new Date(Date.now() + 5000))).toEqual([id]);
  });

  it('survives a restart: a job left running is run again, once its lease expired, and completes', async () => {
    // the first process "dies" mid-export: its job never finishes, the store still says running, and its
    // lease is no longer renewed (its store connection is gone)
    const leases = { leaseMs: 400, heartbeatMs: 100 };
    const first = await start({ leases, control: { gate: new Promise<void>(() => undefined) } });
    const location = (await kickoff(first, '/fhir/$export')).headers['content-location'] as string;
    const id = new URL(location).pathname.split('/').pop()!;
    await vitestWaitFor(async () => (await first.store.get(id))!.status === 'running');
    const dataDir = first.dataDir;
    servers = servers.filter((x) => x !== first);
    await first.app.close();
    await first.store.close();
    const control = { calls: 0 };
    const second = await start({ leases, dataDir, control, store: new SqliteJobStore(join(dataDir, 'jobs.sqlite')) });
    const done = await finish(second, location);
    expect(done.statusCode).toBe(200);
    expect(control.calls).toBe(1);
    expect((await second.store.get(id))!.attempts).toBe(2);
    await first.runner.close();
  });

  it('a clean shutdown leaves a running job queued, and the next start runs it without counting a failure', async () => {
    const first = await start({ control: { gate: new Promise<void>(() => undefined) } });
    const location = (await kickoff(first, '/fhir/$export')).headers['content-location'] as string;
    const id = new URL(location).pathname.split('/').pop()!;
    await vitestWaitFor(async () => (await first.store.get(id))!.status === 'running');
    servers = servers.filter((x) => x !== first);
    await first.close();
    const second = await start({ dataDir: first.dataDir, store: new SqliteJobStore(join(first.dataDir, 'jobs.sqlite')) });
    expect((await finish(second, location)).statusCode).toBe(200);
    expect((await second.store.get(id))!.attempts).toBe(1);
  });

  it('survives a restart: a job interrupted too often ends failed with an OperationOutcome, not 202 forever', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fhir-bridge-export-'));
    const store = new SqliteJobStore(join(dataDir, 'jobs.sqlite'));
    await store.init();
    const job = await store.create({
      id: 'stuck',
      clientId: null,
      level: 'system',
      requestUrl: 'http://h/fhir/$export',
      baseUrl: 'http://h',
      params: { outputFormat: 'application/fhir+ndjson', types: ['Patient'] },
      ignored: [],
    });
    await store.start(job.id, new Date().toISOString());
    await store.requeue(job.id);
    await store.start(job.id, new Date().toISOString()); // two runs already started, the process died in each
    await store.close();
    await mkdir(join(dataDir, 'jobs', 'stuck'), { recursive: true }); // what the last interrupted run left
    await writeFile(join(dataDir, 'jobs', 'stuck', 'Patient.000001.ndjson'), '{"resourceType":"Patient"');
    const s = await start({ dataDir, maxAttempts: 2, store: new SqliteJobStore(join(dataDir, 'jobs.sqlite')) });
    expect(s.runner.jobDir('stuck')).toBe(join(dataDir, 'jobs', 'stuck'));
    const done = await finish(s, 'http://localhost/jobs/stuck');
    expect(done.statusCode).toBe(500);
    expect(done.json().issue[0].diagnostics).toContain('interrupted');
    expect(existsSync(s.runner.jobDir('stuck')), 'partial files of a job given up are removed').toBe(false);
  });
});

async function vitestWaitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition never held');
}
