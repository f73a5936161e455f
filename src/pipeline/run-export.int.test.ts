// runExport against real PostgreSQL and MariaDB, through the real adapters and mapping engine: children
// fetched per batch with an IN query and joined on two columns, `_since` on a TIMESTAMP column, patients.
import knexPkg from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase, type TestDatabaseKind } from '../../test/support/databases.js';
import { openAdapter } from '../connectors/index.js';
import type { SourceAdapter } from '../connectors/types.js';
import { compileMappingSource } from '../mapping/index.js';
import type { FhirResource } from '../mapping/types.js';
import { runExport } from './run-export.js';
import { MemorySink } from '../../test/support/pipeline-fakes.js';

const knex = knexPkg.default ?? knexPkg;

const MAPPING = `
mapping: visit
source:
  table: visit
  key: [ID]
  patient: PATIENT
  lastUpdated: UPDATED_AT
children:
  obs:
    table: obs
    on: { PATIENT: PATIENT, VISIT_NO: VISIT_NO }
    orderBy: [SEQ]
resources:
  - resourceType: Encounter
    id: "{ID}"
    template:
      status: finished
      class: { system: http://terminology.hl7.org/CodeSystem/v3-ActCode, code: AMB }
      subject: { reference: "Patient/{PATIENT}" }
      identifier: { $each: obs, $template: { value: "{SEQ}:{VALUE}" } }
`;

// 30 patients × 3 visits; each visit has 4 observations, inserted out of order. Patient pN's visit v is
// updated on day v of January 2024.
const visits = Array.from({ length: 30 }, (_, p) =>
  [1, 2, 3].map((v) => ({ id: `v${p}-${v}`, patient: `p${p}`, visit_no: v, updated_at: `2024-01-0${v} 12:00:00` })),
).flat();
const observations = visits.flatMap((v) =>
  [3, 1, 4, 2].map((seq) => ({ patient: v.patient, visit_no: v.visit_no, seq, value: `${v.id}#${seq}` })),
);

for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
  const db = await testDatabase(kind);
  if ('skip' in db) {
    describe.skip(`runExport on ${kind} (${db.skip})`, () => it('needs a database', () => undefined));
    continue;
  }
  describe(`runExport on ${kind}`, () => {
    let adapter: SourceAdapter;
    const mappings = compileMappingSource(MAPPING, 'visit.yaml', { timezone: 'UTC' });

    beforeAll(async () => {
      const k = knex({ client: kind === 'postgres' ? 'pg' : 'mysql2', connection: db.url, pool: { min: 0, max: 1 } });
      try {
        await k.schema.createTable('visit', (t) => {
          t.string('id', 20).primary();
          t.string('patient', 20);
          t.integer('visit_no');
          t.timestamp('updated_at', { useTz: false });
        });
        await k.schema.createTable('obs', (t) => {
          t.string('patient', 20);
          t.integer('visit_no');
          t.integer('seq');
          t.string('value', 40);
        });
        await k('visit').insert(visits);
        await k('obs').insert(observations);
      } finally {
        await k.destroy();
      }
      adapter = await openAdapter(db.config());
    }, 120_000);

    afterAll(async () => {
      await adapter?.close();
      await db.cleanup();
    });

    const identifiers = (r: FhirResource): string[] =>
      ((r as { identifier?: Array<{ value: string }> }).identifier ?? []).map((i) => i.value);

    it('joins children on both columns, in orderBy order, batch by batch', async () => {
      const sink = new MemorySink();
      const summary = await runExport({ adapter, mappings, sink, batchSize: 7 });
      expect(summary.counts).toEqual({ Encounter: visits.length });
      expect(summary.rejected.total).toBe(0);
      for (const r of sink.resources)
        expect(identifiers(r)).toEqual([1, 2, 3, 4].map((s) => `${r.id}#${s}`).map((v, i) => `${i + 1}:${v}`));
    });

    it('pushes _since down to the TIMESTAMP column and the patient list to the patient column', async () => {
      const sink = new MemorySink();
      await runExport({ adapter, mappings, sink, since: new Date('2024-01-02T00:00:00Z'), patientKeys: ['p3', 'p7', 'nobody'] });
      expect(sink.resources.map((r) => r.id).sort()).toEqual(['v3-2', 'v3-3', 'v7-2', 'v7-3']);
      expect(identifiers(sink.resources[0]!)).toHaveLength(4);
    });
  });
}
