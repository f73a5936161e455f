// End to end against PostgreSQL: the Synthea sample loaded into a private schema, jobs kept in
// PostgreSQL too, kick-off → poll → download → every line valid R4, for system, Patient and Group level.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase, type TestDatabase } from '../../test/support/databases.js';
import { openSource, type OpenedSource } from '../pipeline/open-source.js';
import { loadSample } from '../sample/load-sample.js';
import { exportOverHttp, patientRefs, writeConnectorFile } from '../../test/support/e2e-support.js';
import { PostgresJobStore } from '../jobs/job-store-postgres.js';
import { buildServer, type BulkServer } from './app.js';
import { MAX_TYPE_FILTER_VALUES } from './kickoff/params.js';

const db = await testDatabase('postgres');

describe.skipIf('skip' in db)('bulk export end to end (PostgreSQL)', () => {
  const database = db as TestDatabase;
  const jobsSchema = `${database.schema}_jobs`;
  let dir: string;
  let source: OpenedSource;
  let server: BulkServer;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-e2e-pg-'));
    const config = database.config({ name: 'e2e-postgres' });
    await loadSample(config);
    const connector = await writeConnectorFile(dir, {
      name: 'e2e-postgres',
      kind: 'postgres',
      connection: database.url,
      options: config.options,
    });
    source = await openSource(connector);
    server = await buildServer({
      source,
      store: new PostgresJobStore({ connectionString: database.url, schema: jobsSchema }),
      dataDir: dir,
      auth: { mode: 'open' },
      retryAfterSeconds: 1,
      minPollIntervalMs: 0,
    });
    base = await server.listen(0, '127.0.0.1');
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await source?.close();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${jobsSchema}" CASCADE`);
    await client.end();
    await database.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('system level: all types, every line valid', async () => {
    const run = await exportOverHttp(`${base}/fhir/$export`);
    expect(run.violations).toEqual([]);
    expect(run.resources.Patient).toHaveLength(11);
    expect(Object.keys(run.resources)).toEqual(expect.arrayContaining(['Condition', 'Encounter', 'Observation', 'Practitioner']));
  }, 300_000);

  it('Patient level: compartment only', async () => {
    const run = await exportOverHttp(`${base}/fhir/Patient/$export?_type=Patient,Condition,Practitioner`, {
      headers: { prefer: 'respond-async, handling=lenient' },
    });
    expect(run.violations).toEqual([]);
    expect(Object.keys(run.resources).sort()).toEqual(['Condition', 'Patient']);
    expect(run.errors.map((e) => JSON.stringify(e))).toEqual([expect.stringContaining('Practitioner')]);
  }, 300_000);

  it('_typeFilter with as many search values as a kick-off may carry runs as SQL on PostgreSQL', async () => {
    const codes = ['444814009', ...Array.from({ length: MAX_TYPE_FILTER_VALUES - 1 }, (_, i) => `9${String(i).padStart(8, '0')}`)];
    const run = await exportOverHttp(`${base}/fhir/Patient/$export`, {
      method: 'POST',
      body: {
        resourceType: 'Parameters',
        parameter: [
          { name: '_type', valueString: 'Condition' },
          { name: '_typeFilter', valueString: `Condition?code=${codes.join(',')}` },
        ],
      },
    });
    expect(run.resources.Condition).toHaveLength(13);
  }, 300_000);

  it('Group level: members only', async () => {
    const group = (await (await fetch(`${base}/fhir/Group/women`)).json()) as { member: Array<{ entity: { reference: string } }> };
    const members = group.member.map((m) => m.entity.reference.slice('Patient/'.length)).sort();
    expect(members.length).toBeGreaterThan(0);
    const run = await exportOverHttp(`${base}/fhir/Group/women/$export?_type=Patient,Encounter`);
    expect(run.violations).toEqual([]);
    expect(run.resources.Patient!.map((p) => String(p.id)).sort()).toEqual(members);
    expect(run.resources.Patient!.every((p) => p.gender === 'female')).toBe(true);
    for (const e of run.resources.Encounter ?? []) expect(members).toContain(patientRefs(e)[0]);
  }, 300_000);
});

if ('skip' in db) it.skip(`bulk export end to end (PostgreSQL): ${(db as { skip: string }).skip}`, () => undefined);
