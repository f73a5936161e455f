// Kick-off requests a standard bulk client or conformance suite sends, answered as the Bulk Data IG 2.0.0
// says (export.html#bulk-data-kick-off-request): headers, _since, _type, patient and _typeFilter limits.
// The real server (buildServer) over the in-memory fake source, through app.inject.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeServer } from '../../test/support/test-server.js';
import type { ExportManifest } from '../jobs/types.js';
import { MAX_TYPE_FILTER_VALUES } from './kickoff/params.js';

type Server = Awaited<ReturnType<typeof fakeServer>>;
let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  servers = [];
});
async function start(): Promise<Server> {
  const s = await fakeServer();
  servers.push(s);
  return s;
}

const ASYNC = { accept: 'application/fhir+json', prefer: 'respond-async' };

async function kick(s: Server, url: string, headers: Record<string, string | undefined> = ASYNC, body?: unknown) {
  const h = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return s.app.inject({
    method: body ? 'POST' : 'GET',
    url,
    headers: body ? { ...h, 'content-type': 'application/fhir+json' } : h,
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });
}

async function finish(s: Server, statusUrl: string): Promise<ExportManifest> {
  const path = new URL(statusUrl).pathname;
  for (;;) {
    const res = await s.app.inject({ method: 'GET', url: path });
    if (res.statusCode !== 202) return res.json() as ExportManifest;
    await s.runner.idle();
  }
}

function expectOutcome(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, text: string) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toContain('application/fhir+json');
  const body = res.json() as { resourceType: string; issue: Array<{ severity: string; diagnostics: string }> };
  expect(body.resourceType).toBe('OperationOutcome');
  expect(body.issue[0]!.severity).toBe('error');
  expect(body.issue[0]!.diagnostics).toContain(text);
}

describe('kick-off headers', () => {
  it('refuses a kick-off without Prefer: respond-async, with a 400 OperationOutcome and no job', async () => {
    const s = await start();
    expectOutcome(await kick(s, '/fhir/$export', { accept: 'application/fhir+json' }), 400, 'Prefer: respond-async');
    expectOutcome(await kick(s, '/fhir/Patient/$export', { ...ASYNC, prefer: 'handling=lenient' }), 400, 'Prefer: respond-async');
    expectOutcome(await kick(s, '/fhir/Group/panel-a/$export', { ...ASYNC, prefer: 'return=minimal' }), 400, 'Prefer: respond-async');
    expect(await s.store.active(null)).toEqual([]);
    // both preferences in one header, in either order
    expect((await kick(s, '/fhir/$export', { ...ASYNC, prefer: 'handling=lenient, respond-async' })).statusCode).toBe(202);
  });

  it('refuses an Accept other than application/fhir+json; a missing Accept is taken as application/fhir+json', async () => {
    const s = await start();
    for (const accept of ['application/json', 'text/html', '*/*', 'application/fhir+xml']) {
      expectOutcome(await kick(s, '/fhir/$export', { ...ASYNC, accept }), 400, 'Accept');
    }
    expect(await s.store.active(null)).toEqual([]);
    const listed = await kick(s, '/fhir/$export?_type=Patient', { ...ASYNC, accept: 'application/fhir+json;q=0.9, text/plain;q=0.1' });
    expect(listed.statusCode).toBe(202);
    await finish(s, listed.headers['content-location'] as string);
    const none = await kick(s, '/fhir/$export?_type=Patient', { ...ASYNC, accept: undefined });
    expect(none.statusCode).toBe(202);
  });
});

describe('kick-off parameters', () => {
  it('refuses a _since later than now, and an impossible date instead of moving it to the next month', async () => {
    const s = await start();
    const future = new Date(Date.now() + 24 * 3600_000).toISOString();
    expectOutcome(await kick(s, `/fhir/$export?_since=${encodeURIComponent(future)}`), 400, 'later than');
    expectOutcome(await kick(s, '/fhir/$export?_since=2024-02-31T00:00:00Z'), 400, 'not a date that exists');
    expectOutcome(await kick(s, '/fhir/$export?_since=2023-02-29T00:00:00Z'), 400, 'not a date that exists');
    expectOutcome(await kick(s, '/fhir/$export?_since=2024-04-31T10:00:00%2B02:00'), 400, 'not a date that exists');
    const leap = await kick(s, '/fhir/$export?_since=2024-02-29T00:00:00Z');
    expect(leap.statusCode).toBe(202);
    expect((await finish(s, leap.headers['content-location'] as string)).request).toContain('_since=2024-02-29T00:00:00Z');
  });

  it('refuses an empty _type', async () => {
    const s = await start();
    expectOutcome(await kick(s, '/fhir/$export?_type='), 400, '_type');
    expectOutcome(await kick(s, '/fhir/$export?_type=,'), 400, '_type');
    expect(await s.store.active(null)).toEqual([]);
  });

  it('refuses unknown patients by default; with handling=lenient exports the known ones and reports the others in the error file', async () => {
    const s = await start();
    const params = {
      resourceType: 'Parameters',
      parameter: ['p2', 'p9', 'nobody'].map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })),
    };
    const strict = await kick(s, '/fhir/Patient/$export', ASYNC, params);
    expectOutcome(strict, 400, 'Patient/p9, Patient/nobody are not on this server');
    expect(await s.store.active(null)).toEqual([]);

    const lenient = await kick(s, '/fhir/Patient/$export', { ...ASYNC, prefer: 'respond-async, handling=lenient' }, params);
    expect(lenient.statusCode).toBe(202);
    const manifest = await finish(s, lenient.headers['content-location'] as string);
    const patients = manifest.output.filter((o) => o.type === 'Patient');
    expect(patients).toHaveLength(1);
    const exported = (await s.app.inject({ method: 'GET', url: new URL(patients[0]!.url).pathname })).body.trim().split('\n');
    expect(exported.map((l) => JSON.parse(l).id)).toEqual(['p2']);
    expect(manifest.error).toHaveLength(1);
    const errors = (await s.app.inject({ method: 'GET', url: new URL(manifest.error[0]!.url).pathname })).body.trim().split('\n');
    expect(errors).toHaveLength(1);
    const outcome = JSON.parse(errors[0]!);
    expect(outcome.issue[0]).toMatchObject({ code: 'not-found', expression: ['patient'] });
    expect(outcome.issue[0].diagnostics).toContain('Patient/p9, Patient/nobody');
  });

  it('checks a long patient list in IN lists every source accepts (at most 1000 keys a query)', async () => {
    const s = await start();
    const ids = ['p1', ...Array.from({ length: 2_500 }, (_, i) => `x${i}`), 'p3'];
    const params = {
      resourceType: 'Parameters',
      parameter: ids.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })),
    };
    const before = s.source.adapter.queries.length;
    const res = await kick(s, '/fhir/Patient/$export', { ...ASYNC, prefer: 'respond-async, handling=lenient' }, params);
    expect(res.statusCode).toBe(202);
    const lookups = s.source.adapter.queries.slice(before).flatMap((q) => (q.where ?? []).filter((f) => f.op === 'in'));
    expect(lookups.length).toBe(3);
    for (const f of lookups) expect((f.value as unknown[]).length).toBeLessThanOrEqual(1000);
    expect(lookups.flatMap((f) => f.value as unknown[])).toEqual(ids);
    const manifest = await finish(s, res.headers['content-location'] as string);
    const patients = manifest.output.filter((o) => o.type === 'Patient');
    const exported = (await s.app.inject({ method: 'GET', url: new URL(patients[0]!.url).pathname })).body.trim().split('\n');
    expect(exported.map((l) => JSON.parse(l).id).sort()).toEqual(['p1', 'p3']);
  });

  it(`refuses _typeFilter queries with more than ${MAX_TYPE_FILTER_VALUES} search values (60,000 codes) before any job exists`, async () => {
    const s = await start();
    const codes = Array.from({ length: 60_000 }, (_, i) => `c${i}`).join(',');
    const huge = await s.app.inject({
      method: 'POST',
      url: '/fhir/$export',
      headers: { ...ASYNC, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify({
        resourceType: 'Parameters',
        parameter: [{ name: '_typeFilter', valueString: `Observation?code=${codes}` }],
      }),
    });
    expectOutcome(huge, 400, `more than ${MAX_TYPE_FILTER_VALUES} search values`);
    expect(huge.json().issue[0].code).toBe('too-costly');
    // the limit counts across queries
    const half = (prefix: string) => Array.from({ length: MAX_TYPE_FILTER_VALUES / 2 + 1 }, (_, i) => `${prefix}${i}`).join(',');
    const split = `Observation?code=${half('a')},Observation?code=${half('b')}`;
    expectOutcome(await kick(s, `/fhir/$export?_typeFilter=${encodeURIComponent(split)}`), 400, 'search values');
    expect(await s.store.active(null)).toEqual([]);
    // at the limit: accepted and exported
    const atLimit = ['8480-6', ...Array.from({ length: MAX_TYPE_FILTER_VALUES - 1 }, (_, i) => `c${i}`)].join(',');
    const ok = await kick(s, `/fhir/$export?_type=Observation&_typeFilter=${encodeURIComponent(`Observation?code=${atLimit}`)}`);
    expect(ok.statusCode).toBe(202);
    expect((await finish(s, ok.headers['content-location'] as string)).output.map((o) => o.type)).toEqual(['Observation']);
  });
});
