// Issue 8 item 8: one logger (src/log.ts, redacted) for fastify and the job runner, and one line per job
// state change with the job id: queued, running, completed (with counts), failed (with the message),
// retried after a restart, expired.
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { captureLog, type LogLine } from '../../test/support/log-capture.js';
import { fakeServer } from '../../test/support/test-server.js';
import { SqliteJobStore } from './job-store-sqlite.js';

type Server = Awaited<ReturnType<typeof fakeServer>>;
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close().catch(() => undefined);
});

const headers = { accept: 'application/fhir+json', prefer: 'respond-async' };

async function kickoff(s: Server, url = '/fhir/$export?_type=Patient,Observation'): Promise<string> {
  const res = await s.app.inject({ method: 'GET', url, headers });
  expect(res.statusCode).toBe(202);
  return String(res.headers['content-location']).split('/').pop()!;
}

/** the runner's lines about one job (the kick-off's own request line left out) */
const of = (lines: LogLine[], job: string) => lines.filter((l) => l.job === job && l.msg !== 'export kicked off').map((l) => l.msg);

it('fastify logs with the given logger, its redaction paths apply, and kick-off lines have one level key', async () => {
  const log = captureLog();
  const s = await fakeServer({ logger: log.logger });
  servers.push(s);
  // fastify's logger (a child of the given one) writes to the same sink, with the redaction paths of src/log.ts
  s.app.log.info({ headers: { authorization: 'Bearer very-secret' } }, 'probe');
  expect(log.lines.find((l) => l.msg === 'probe')).toMatchObject({ headers: { authorization: '***' } });
  const job = await kickoff(s);
  await s.runner.idle();
  const raw = log.raw.find((r) => r.includes('"export kicked off"'))!;
  expect(raw.match(/"level":/g)).toHaveLength(1);
  expect(JSON.parse(raw)).toMatchObject({ level: 30, job, exportLevel: 'system', types: ['Patient', 'Observation'] });
  expect(log.lines.some((l) => l.msg === 'incoming request')).toBe(true); // fastify's own request lines, same sink
});

it('logs queued, running and completed (with counts) for a job that succeeds, then its expiry', async () => {
  const log = captureLog();
  const s = await fakeServer({ logger: log.logger });
  servers.push(s);
  const job = await kickoff(s);
  await s.runner.idle();
  expect(of(log.lines, job)).toEqual(['export job queued', 'export job running', 'export job completed']);
  expect(log.lines.find((l) => l.job === job && l.msg === 'export job completed')).toMatchObject({
    level: 30,
    counts: { Patient: 3, Observation: 3 },
  });
  expect(log.lines.find((l) => l.job === job && l.msg === 'export job running')).toMatchObject({ attempt: 1 });
  expect(await s.runner.sweep(new Date(Date.now() + 2 * 3600_000))).toEqual([job]);
  expect(log.lines.find((l) => l.job === job && l.msg === 'export job expired; its files were deleted')).toMatchObject({
    was: 'completed',
  });
});

it('logs a failed job with its message', async () => {
  const log = captureLog();
  const s = await fakeServer({ logger: log.logger, control: { fail: new Error('the source said no') } });
  servers.push(s);
  const job = await kickoff(s);
  await s.runner.idle();
  expect(of(log.lines, job)).toEqual(['export job queued', 'export job running', 'export job failed']);
  expect(log.lines.find((l) => l.job === job && l.msg === 'export job failed')).toMatchObject({
    level: 50,
    error: 'the export failed: the source said no',
  });
});

it('logs a job retried after a restart', async () => {
  const log = captureLog();
  const first = await fakeServer({ control: { gate: new Promise<void>(() => undefined) } });
  const job = await kickoff(first);
  // the process dies with the job running: the store still says running (close() would requeue it cleanly)
  const store = new SqliteJobStore(join(first.dataDir, 'jobs.sqlite'));
  await store.init();
  await first.runner.close();
  await store.start(job, new Date().toISOString());
  expect((await store.get(job))!.status).toBe('running');
  const second = await fakeServer({ dataDir: first.dataDir, store, logger: log.logger });
  servers.push(first, second);
  await second.runner.idle();
  expect(of(log.lines, job)).toEqual([
    'export job was interrupted by a restart; running it again',
    'export job queued',
    'export job running',
    'export job completed',
  ]);
});
