// A small in-memory source (3 patients, their observations, one practitioner) and an executor that writes
// what the fake source holds, for the server tests that do not need the real pipeline.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Row } from '../../src/connectors/types.js';
import type { CompiledMapping, FhirResource } from '../../src/mapping/types.js';
import { FakeAdapter, fakeMapping, mappingSet } from './pipeline-fakes.js';
import { createNdjsonSink } from '../../src/sinks/ndjson-sink.js';
import type { JobExecutor } from '../../src/jobs/runner.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { buildServer, type BulkServer, type ServerOptions } from '../../src/http/app.js';

export function fakeSource() {
  const adapter = new FakeAdapter({
    patients: [{ id: 'p1' }, { id: 'p2' }, { id: 'p3' }],
    observations: [
      { id: 'o1', patient: 'p1', code: '8480-6' },
      { id: 'o2', patient: 'p2', code: '8462-4' },
      { id: 'o3', patient: 'p3', code: '8480-6' },
    ],
    practitioners: [{ id: 'dr1' }],
    roster: [{ member: 'p1' }, { member: 'p3' }],
  });
  const patient: CompiledMapping = {
    ...fakeMapping({
      name: 'patient',
      table: 'patients',
      patient: 'id',
      resourceTypes: ['Patient'],
      map: (r: Row) => ({ resources: [{ resourceType: 'Patient', id: String(r.id) }], issues: [] }),
    }),
    idFor: (_t, key) => String(key[0]),
    keyForId: (_t, id) => [id],
  };
  const observation: CompiledMapping = {
    ...fakeMapping({
      name: 'observation',
      table: 'observations',
      patient: 'patient',
      resourceTypes: ['Observation'],
      map: (r: Row) => ({
        resources: [
          {
            resourceType: 'Observation',
            id: String(r.id),
            status: 'final',
            code: { text: String(r.code) },
            subject: { reference: `Patient/${String(r.patient)}` },
          } as FhirResource,
        ],
        issues: [],
      }),
    }),
    search: { code: 'code' },
  };
  const practitioner = fakeMapping({
    name: 'practitioner',
    table: 'practitioners',
    resourceTypes: ['Practitioner'],
    map: (r: Row) => ({ resources: [{ resourceType: 'Practitioner', id: String(r.id) }], issues: [] }),
  });
  const mappings = mappingSet(patient, observation, practitioner);
  const groups = { 'panel-a': { name: 'Panel A', description: 'Roster of Dr <A>', table: 'roster', column: 'member' } };
  return { adapter, mappings, config: { name: 'fake', file: '/fake/connector.yaml', groups } };
}

/** Writes, per requested type, the fake source's rows of that type (honouring patientKeys); waits on `gate` first. */
export function fakeExecutor(
  source: ReturnType<typeof fakeSource>,
  control: { gate?: Promise<void>; fail?: Error; calls?: number; gzip?: boolean } = {},
): JobExecutor {
  return async ({ job, dir, signal, onProgress }) => {
    control.calls = (control.calls ?? 0) + 1;
    onProgress('working on it');
    signal.throwIfAborted();
    if (control.gate) {
      await Promise.race([
        control.gate,
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
      ]);
    }
    if (control.fail) throw control.fail;
    const sink = createNdjsonSink({ dir, gzip: control.gzip ?? false });
    for (const issue of job.ignored) await sink.writeError({ resourceType: 'OperationOutcome', issue: [issue] });
    const keys = job.patientKeys?.map(String);
    for (const m of source.mappings.mappings) {
      if (!m.resourceTypes.some((t) => job.params.types.includes(t))) continue;
      for await (const row of source.adapter.stream(m.source.query)) {
        if (keys && (!m.source.patient || !keys.includes(String(row[m.source.patient])))) continue;
        for (const r of m.map(row).resources) await sink.write(r);
      }
    }
    return { files: await sink.close() };
  };
}

export async function fakeServer(
  overrides: Partial<ServerOptions> & { control?: Parameters<typeof fakeExecutor>[1]; dataDir?: string } = {},
): Promise<BulkServer & { dataDir: string; source: ReturnType<typeof fakeSource> }> {
  const source = fakeSource();
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'fhir-bridge-export-')));
  const server = await buildServer({
    source,
    store: overrides.store ?? new SqliteJobStore(join(dataDir, 'jobs.sqlite')),
    dataDir,
    auth: { mode: 'open' },
    executor: fakeExecutor(source, overrides.control),
    minPollIntervalMs: 0,
    sweepIntervalMs: 0,
    ...overrides,
  });
  return Object.assign(server, { dataDir, source });
}
