// Issue 9, "Done when": rows committed while an export runs are in the next `_since=<transactionTime>`
// export, and no export holds half of a multi-row change. Two writers act while an export is reading:
//  - A began before the export, updated an encounter (its trigger stamped it then) and commits mid-export:
//    the snapshot cannot show it, so transactionTime must not be later than A's stamp;
//  - B, in one transaction, renames a patient and changes one of their encounters: the first export sees
//    neither (it reads its snapshot), the next one both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { runExport } from '../../src/pipeline/run-export.js';
import type { FhirResource } from '../../src/mapping/types.js';
import type { ResourceSink } from '../../src/sinks/types.js';
import { TARGETS, type Target, type Writer } from './targets.js';

/** Resources kept in memory; `onFirstWrite` runs (and is awaited) when the export writes its first one. */
function memorySink(onFirstWrite?: () => Promise<void>): ResourceSink & { resources: FhirResource[] } {
  const resources: FhirResource[] = [];
  let first = onFirstWrite;
  return {
    resources,
    async write(resource) {
      if (first) {
        const run = first;
        first = undefined;
        await run();
      }
      resources.push(resource);
    },
    async writeError() {},
    async writeDeleted() {},
    async close() {
      return { output: [], error: [] };
    },
    async abort() {},
  };
}

const byRef = (resources: FhirResource[]): Map<string, FhirResource> => new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r]));

for (const [name, open] of Object.entries(TARGETS)) {
  // SQLite lets no writer commit while a reader holds its (rollback-journal) file: nothing can commit mid-export
  if (name === 'sqlite') continue;
  const target = await open();
  if ('skip' in target) console.warn(`concurrent-commit.int.test (${name}): ${target.skip}`);

  describe.skipIf('skip' in target)(`commits during an export (${name})`, () => {
    const t = target as Target;
    let source: OpenedSource;
    let a: Writer;
    let b: Writer;
    let e1: string;
    let e2: string;
    let patient: string;

    beforeAll(async () => {
      source = await openSource(t.connector);
      a = await t.writer();
      b = await t.writer();
      const rows = await t.sql.query('SELECT id, patient FROM encounters ORDER BY id');
      e1 = String(rows[0]!.id);
      const other = rows.find((r) => r.patient !== rows[0]!.patient)!;
      e2 = String(other.id);
      patient = String(other.patient);
    }, 600_000);

    afterAll(async () => {
      await a?.end();
      await b?.end();
      await source?.close();
      await t.close();
    });

    it('the next _since export has what was committed during the export, and no export has half a transaction', async () => {
      const types = ['Patient', 'Encounter'];
      await a.query('START TRANSACTION');
      await a.query(`UPDATE encounters SET description = 'A: begun before the export' WHERE id = ?`, [e1]);
      const first = memorySink(async () => {
        await a.query('COMMIT');
        await b.query('START TRANSACTION');
        await b.query(`UPDATE patients SET first = 'Renamed' WHERE id = ?`, [patient]);
        await b.query(`UPDATE encounters SET description = 'B: with the rename' WHERE id = ?`, [e2]);
        await b.query('COMMIT');
      });
      const full = await runExport({ adapter: source.adapter, mappings: source.mappings, sink: first, types });
      const seen = byRef(first.resources);
      // the snapshot was taken before A and B committed: neither shows, in particular not half of B
      expect(JSON.stringify(seen.get(`Encounter/${e1}`))).not.toContain('A: begun before the export');
      expect(JSON.stringify(seen.get(`Encounter/${e2}`))).not.toContain('B: with the rename');
      expect(JSON.stringify(seen.get(`Patient/${patient}`))).not.toContain('Renamed');

      const next = memorySink();
      await runExport({ adapter: source.adapter, mappings: source.mappings, sink: next, types, since: new Date(full.transactionTime) });
      const changed = byRef(next.resources);
      expect([...changed.keys()].sort()).toEqual([`Encounter/${e1}`, `Encounter/${e2}`, `Patient/${patient}`].sort());
      expect(JSON.stringify(changed.get(`Encounter/${e1}`))).toContain('A: begun before the export');
      expect(JSON.stringify(changed.get(`Encounter/${e2}`))).toContain('B: with the rename');
      expect(JSON.stringify(changed.get(`Patient/${patient}`))).toContain('Renamed');
    }, 300_000);
  });
}
