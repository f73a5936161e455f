import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Row } from '../connectors/types.js';
import type { FhirResource, MapResult, RowIssue } from '../mapping/types.js';
import { createNdjsonSink } from '../sinks/ndjson-sink.js';
import { SUBSETTED_TAG } from './elements.js';
import { runExport } from './run-export.js';
import { FakeAdapter, fakeMapping, mappingSet, MemorySink } from '../../test/support/pipeline-fakes.js';

const patients: Row[] = Array.from({ length: 7 }, (_, i) => ({
  id: `p${i}`,
  gender: i % 2 ? 'M' : 'F',
  updated: `2024-01-0${i + 1}T00:00:00Z`,
}));
// Two visits per patient; observations join on (patient, visit) and come back in `seq` order.
const observations: Row[] = patients.flatMap((p, i) =>
  [1, 2].flatMap((visit) => [3, 1, 2].map((seq) => ({ patient: p.id, visit, seq, value: i * 100 + visit * 10 + seq }))),
);
const visits: Row[] = patients.flatMap((p) => [1, 2].map((visit) => ({ id: `${String(p.id)}-${visit}`, patient: p.id, visit })));

const patientMapping = fakeMapping({
  name: 'patient',
  table: 'patients',
  patient: 'id',
  lastUpdated: 'updated',
  resourceTypes: ['Patient'],
  map: (row) => ({
    resources: [
      {
        resourceType: 'Patient',
        id: String(row.id),
        gender: row.gender === 'M' ? 'male' : 'female',
        birthDate: '2000-01-01',
      } as FhirResource,
    ],
    issues: [],
  }),
});

const visitMapping = fakeMapping({
  name: 'visit',
  table: 'visits',
  patient: 'patient',
  resourceTypes: ['Encounter', 'Observation'],
  children: [
    {
      name: 'obs',
      query: { table: 'observations' },
      on: [
        { child: 'patient', parent: 'patient' },
        { child: 'visit', parent: 'visit' },
      ],
      orderBy: ['seq'],
    },
  ],
  map: (row, children) => ({
    resources: [
      { resourceType: 'Encounter', id: String(row.id), status: 'finished', class: { code: 'AMB' } } as FhirResource,
      ...(children?.obs ?? []).map(
        (c) =>
          ({
            resourceType: 'Observation',
            id: `${String(row.id)}-${String(c.seq)}`,
            status: 'final',
            code: { text: 'x' },
            valueInteger: c.value,
          }) as FhirResource,
      ),
    ],
    issues: [],
  }),
});

const tables = () => ({ patients, observations, visits });

describe('runExport', () => {
  it('fetches children with one IN query per batch and joins the other columns in memory, in orderBy order', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const summary = await runExport({ adapter, mappings: mappingSet(visitMapping), sink, batchSize: 4 });

    const childQueries = adapter.queries.filter((q) => q.table === 'observations');
    expect(childQueries).toHaveLength(Math.ceil(visits.length / 4));
    for (const q of childQueries) {
      expect(q.orderBy).toEqual(['seq']);
      expect(q.where).toEqual([{ column: 'patient', op: 'in', value: expect.any(Array) }]);
      // the first join column's distinct values of one batch, never more
      expect((q.where![0]!.value as unknown[]).length).toBeLessThanOrEqual(4);
    }
    const obs = sink.resources.filter((r) => r.resourceType === 'Observation') as Array<FhirResource & { valueInteger: number }>;
    expect(obs).toHaveLength(observations.length);
    const p3visit2 = obs.filter((o) => o.id.startsWith('p3-2-')).map((o) => o.valueInteger);
    expect(p3visit2).toEqual([321, 322, 323]);
    expect(summary.counts).toEqual({ Encounter: visits.length, Observation: observations.length });
    expect(summary.rowsRead).toEqual({ visit: visits.length });
    expect(sink.closed).toBe(true);
  });

  it('runs only mappings emitting the requested types and drops their other types', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const summary = await runExport({ adapter, mappings: mappingSet(patientMapping, visitMapping), sink, types: ['Observation'] });
    expect(adapter.queries.some((q) => q.table === 'patients')).toBe(false);
    expect(new Set(sink.resources.map((r) => r.resourceType))).toEqual(new Set(['Observation']));
    expect(summary.counts).toEqual({ Observation: observations.length });
    expect(Object.keys(summary.rowsRead)).toEqual(['visit']);
  });

  it('pushes _since down as lastUpdated > since and notes mappings that cannot apply it', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const since = new Date('2024-01-04T12:00:00Z');
    const summary = await runExport({ adapter, mappings: mappingSet(patientMapping, visitMapping), sink, since });
    expect(adapter.queries.find((q) => q.table === 'patients')!.where).toEqual([{ column: 'updated', op: '>', value: since }]);
    expect(summary.counts.Patient).toBe(3);
    expect(summary.counts.Encounter).toBe(visits.length);
    expect(summary.notes).toEqual([expect.stringMatching(/mapping visit: no lastUpdated column/)]);
  });

  it('restricts to patient keys in chunks and skips mappings outside the patient compartment', async () => {
    const many = Array.from({ length: 2500 }, (_, i) => `x${i}`);
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const practitioners = fakeMapping({
      name: 'practitioner',
      table: 'staff',
      resourceTypes: ['Practitioner'],
      map: () => ({ resources: [], issues: [] }),
    });
    const summary = await runExport({
      adapter,
      mappings: mappingSet(patientMapping, practitioners),
      sink,
      patientKeys: ['p1', 'p5', ...many],
    });
    const patientQueries = adapter.queries.filter((q) => q.table === 'patients');
    expect(patientQueries.map((q) => (q.where![0]!.value as unknown[]).length)).toEqual([1000, 1000, 502]);
    expect(sink.resources.map((r) => r.id).sort()).toEqual(['p1', 'p5']);
    expect(adapter.queries.some((q) => q.table === 'staff')).toBe(false);
    expect(summary.notes?.[0]).toMatch(/practitioner: no patient column/);
  });

  it('reads a filtered type once per _typeFilter alternative and writes each resource once', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    await runExport({
      adapter,
      mappings: mappingSet(visitMapping),
      sink,
      typeFilters: {
        Encounter: [
          [{ column: 'patient', op: 'in', value: ['p1', 'p2'] }],
          [
            { column: 'patient', op: '=', value: 'p2' },
            { column: 'visit', op: '=', value: 1 },
          ],
        ],
      },
    });
    const encounters = sink.resources.filter((r) => r.resourceType === 'Encounter').map((r) => r.id);
    expect(encounters.sort()).toEqual(['p1-1', 'p1-2', 'p2-1', 'p2-2']);
    // Observation has no filter: all of them, from an unfiltered read
    expect(sink.resources.filter((r) => r.resourceType === 'Observation')).toHaveLength(observations.length);
    expect(adapter.queries.filter((q) => q.table === 'visits')).toHaveLength(3);
  });

  it('applies _elements: listed and mandatory elements stay, the resource is tagged SUBSETTED', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    await runExport({ adapter, mappings: mappingSet(patientMapping, visitMapping), sink, elements: ['Patient.gender', 'value'] });
    const patient = sink.resources.find((r) => r.resourceType === 'Patient')!;
    expect(Object.keys(patient).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
    expect(patient.meta?.tag).toEqual([SUBSETTED_TAG]);
    const obs = sink.resources.find((r) => r.resourceType === 'Observation')!;
    // status and code are mandatory in Observation, `value` keeps the choice valueInteger: nothing dropped, no tag
    expect(Object.keys(obs).sort()).toEqual(['code', 'id', 'resourceType', 'status', 'valueInteger']);
    const encounter = sink.resources.find((r) => r.resourceType === 'Encounter')!;
    expect(Object.keys(encounter).sort()).toEqual(['class', 'id', 'resourceType', 'status']);
  });

  it('writes row issues as OperationOutcomes and counts them by severity and reason', async () => {
    const issue = (row: Row): RowIssue => ({
      severity: 'error',
      code: 'value',
      message: `invalid date "${String(row.gender)}-${String(row.id)}"`,
      mapping: 'patient',
      location: { file: '/maps/patient.yaml', line: 12, column: 7 },
      table: 'patients',
      key: { id: row.id },
      column: 'birthdate',
      resourceType: 'Patient',
      expression: 'Patient.birthDate',
    });
    const mapping = fakeMapping({
      name: 'patient',
      table: 'patients',
      resourceTypes: ['Patient'],
      map: (row): MapResult =>
        Number(String(row.id).slice(1)) < 3
          ? { resources: [], issues: [issue(row)] }
          : row.id === 'p6'
            ? (() => {
                throw new Error('template bug');
              })()
            : { resources: [{ resourceType: 'Patient', id: String(row.id) } as FhirResource], issues: [] },
    });
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const summary = await runExport({ adapter, mappings: mappingSet(mapping), sink });
    expect(summary.counts).toEqual({ Patient: 3 });
    expect(sink.errors).toHaveLength(4);
    const first = sink.errors[0]!.issue[0]!;
    expect(first).toMatchObject({ severity: 'error', code: 'value', expression: ['Patient.birthDate'] });
    expect(first.diagnostics).toContain('/maps/patient.yaml:12:7: invalid date');
    expect(first.diagnostics).toContain('patients key {"id":"p0"}');
    expect(summary.rejected.total).toBe(4);
    expect(summary.rejected.bySeverity).toEqual({ error: 4 });
    // three rows, one reason: the row-specific value is not part of it
    expect(Object.values(summary.rejected.byReason).sort()).toEqual([1, 3]);
    expect(sink.errors[3]!.issue[0]!.diagnostics).toContain('template bug');
  });

  it('stops promptly when aborted and aborts the sink', async () => {
    const adapter = new FakeAdapter(tables());
    const sink = new MemorySink();
    const controller = new AbortController();
    let seen = 0;
    adapter.onRow = () => {
      if (++seen === 3) controller.abort(new Error('cancelled by client'));
    };
    await expect(
      runExport({ adapter, mappings: mappingSet(patientMapping, visitMapping), sink, signal: controller.signal, batchSize: 2 }),
    ).rejects.toThrow('cancelled by client');
    expect(sink.aborted).toBe(true);
    expect(sink.closed).toBe(false);
    expect(adapter.queries.some((q) => q.table === 'visits')).toBe(false);
  });

  it('fails the run and removes its files when the source fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'run-export-'));
    try {
      const adapter = new FakeAdapter(tables());
      adapter.failOn = 'visits';
      const sink = createNdjsonSink({ dir });
      await expect(runExport({ adapter, mappings: mappingSet(patientMapping, visitMapping), sink, concurrency: 1 })).rejects.toThrow(
        'table visits is gone',
      );
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes NDJSON files through the real sink, with several mappings at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'run-export-'));
    try {
      const adapter = new FakeAdapter(tables());
      const progress: number[] = [];
      const summary = await runExport({
        adapter,
        mappings: mappingSet(patientMapping, visitMapping),
        sink: createNdjsonSink({ dir, maxResourcesPerFile: 20 }),
        concurrency: 2,
        onProgress: (p) => progress.push(p.mappingsDone),
      });
      expect(summary.files.output.map((f) => [f.type, f.count])).toEqual([
        ['Observation', 20],
        ['Observation', 20],
        ['Encounter', 14],
        ['Observation', 2],
        ['Patient', 7],
      ]);
      const text = await readFile(join(dir, 'Patient.000001.ndjson'), 'utf8');
      expect(
        text
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { id: string }).id)
          .sort(),
      ).toEqual(patients.map((p) => p.id));
      expect(progress.at(-1)).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
