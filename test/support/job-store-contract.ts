// The behaviour every JobStore must have, run against SQLite (job-store.test.ts) and PostgreSQL
// (job-store-postgres.int.test.ts). Takes vitest's functions so this module does not import vitest.
import type { JobStore } from '../../src/jobs/job-store.js';
import type { NewJob } from '../../src/jobs/types.js';

type It = (name: string, fn: () => Promise<void>) => void;
type Expect = (value: unknown) => {
  toBe(v: unknown): void;
  toEqual(v: unknown): void;
  toMatchObject(v: object): void;
  toBeUndefined(): void;
};

export function newJob(id: string, clientId: string | null = 'c1'): NewJob {
  return {
    id,
    clientId,
    level: 'group',
    groupId: 'g1',
    requestUrl: `http://h/fhir/Group/g1/$export?_type=Patient`,
    baseUrl: 'http://h',
    params: { outputFormat: 'application/fhir+ndjson', types: ['Patient'], since: '2020-01-01T00:00:00.000Z' },
    ignored: [{ severity: 'warning', code: 'not-supported', diagnostics: 'ignored _foo' }],
    patientKeys: ['p1', 2],
  };
}

export function jobStoreContract(it: It, expect: Expect, open: () => Promise<JobStore>): void {
  it('creates, reads back and walks a job through queued → running → completed', async () => {
    const store = await open();
    const created = await store.create(newJob('a'));
    expect(created.status).toBe('queued');
    expect(await store.get('a')).toEqual(created);
    expect((await store.get('a'))!.patientKeys).toEqual(['p1', 2]);
    expect(await store.start('a', '2024-01-01T00:00:00.000Z')).toBe(true);
    expect(await store.start('a', '2024-01-01T00:00:00.000Z')).toBe(false);
    await store.progress('a', 'half way');
    expect(await store.get('a')).toMatchObject({
      status: 'running',
      attempts: 1,
      progress: 'half way',
      transactionTime: '2024-01-01T00:00:00.000Z',
    });
    const manifest = { transactionTime: '2024-01-01T00:00:00.000Z', request: 'r', requiresAccessToken: true, output: [], error: [] };
    expect(await store.complete('a', manifest, '2024-01-01T01:00:00.000Z')).toBe(true);
    expect(await store.get('a')).toMatchObject({ status: 'completed', manifest, expiresAt: '2024-01-01T01:00:00.000Z' });
    await store.close();
  });

  it('keeps a cancelled job cancelled: completing it afterwards does nothing', async () => {
    const store = await open();
    await store.create(newJob('b'));
    await store.start('b', new Date().toISOString());
    const before = await store.cancel('b');
    expect(before!.status).toBe('running');
    expect(await store.cancel('b')).toBeUndefined();
    expect(await store.complete('b', { transactionTime: 't', request: 'r', requiresAccessToken: false, output: [], error: [] }, 'x')).toBe(
      false,
    );
    expect((await store.get('b'))!.status).toBe('cancelled');
    expect(await store.cancel('nope')).toBeUndefined();
    await store.close();
  });

  it('finds active jobs per client, interrupted jobs, and what is due for cleanup', async () => {
    const store = await open();
    await store.create(newJob('c', 'c1'));
    await store.create(newJob('d', 'c2'));
    await store.create(newJob('e', null));
    await store.start('c', new Date().toISOString());
    expect((await store.active('c1')).map((j) => j.id)).toEqual(['c']);
    expect((await store.active(null)).map((j) => j.id)).toEqual(['e']);
    expect((await store.list(['running'])).map((j) => j.id)).toEqual(['c']);
    expect(await store.requeue('c')).toBe(true);
    expect((await store.get('c'))!.status).toBe('queued');
    await store.start('c', new Date().toISOString());
    expect((await store.get('c'))!.attempts).toBe(2);
    expect(await store.requeue('c', true)).toBe(true); // a clean shutdown does not count the run
    await store.start('c', new Date().toISOString());
    expect((await store.get('c'))!.attempts).toBe(2);
    await store.fail(
      'c',
      { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: 'boom' }] },
      '2024-01-01T00:00:00.000Z',
    );
    await store.cancel('d');
    expect((await store.dueForCleanup('2023-12-31T00:00:00.000Z')).map((j) => j.id)).toEqual(['d']);
    expect((await store.dueForCleanup('2024-01-02T00:00:00.000Z')).map((j) => j.id).sort()).toEqual(['c', 'd']);
    await store.expire('c');
    expect((await store.get('c'))!.status).toBe('expired');
    expect((await store.get('c'))!.error!.issue[0]!.diagnostics).toBe('boom');
    await store.close();
  });

  it('creates at most one queued or running job per client (SMART clients), even when called concurrently', async () => {
    const store = await open();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create(newJob(`busy${i}`, 'busy-client'))));
    const created = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(created.length).toBe(1);
    expect(refused.map((r) => (r.reason as Error).name)).toEqual(Array(19).fill('ClientBusyError'));
    expect((await store.active('busy-client')).length).toBe(1);
    // other clients and open mode (null) are not affected; a finished job frees the client
    await store.create(newJob('other', 'other-client'));
    await store.create(newJob('open1', null));
    await store.create(newJob('open2', null));
    const [only] = await store.active('busy-client');
    await store.cancel(only!.id);
    expect((await store.create(newJob('next', 'busy-client'))).status).toBe('queued');
    await store.close();
  });
}
