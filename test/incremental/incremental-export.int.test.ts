// Issue 9, "Done when": on SQLite, PostgreSQL and MariaDB, a full export at T0, the hospital's changes, then
// `_since=T0` through the CLI and the server: exactly the changed and new resources, and `deleted` exactly
// the two deleted conditions (with the ids the T0 export gave them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges, cliExport, refs, serverExport, type Changes, type ExportFiles } from './scenario.js';
import { TARGETS, type Target } from './targets.js';

for (const [name, open] of Object.entries(TARGETS)) {
  const target = await open();
  if ('skip' in target) console.warn(`incremental-export.int.test (${name}): ${target.skip}`);

  describe.skipIf('skip' in target)(`incremental export from ${name}`, () => {
    const t = target as Target;
    let t0: ExportFiles;
    let changes: Changes;
    const newRows = ['Patient/incr-new-patient', 'Encounter/incr-new-encounter'];

    beforeAll(async () => {
      t0 = await cliExport(t.connector);
      changes = await applyChanges(t.sql, t0.resources);
    }, 600_000);

    afterAll(async () => {
      await t.close();
    });

    /** The new encounter's Provenance: the one Provenance of the export whose target is the new encounter. */
    const expected = (files: ExportFiles): string[] => {
      const provenance = (files.resources.Provenance ?? []).filter((p) =>
        (p.target as Array<{ reference: string }>).some((r) => r.reference === 'Encounter/incr-new-encounter'),
      );
      expect(provenance).toHaveLength(1);
      return [...changes.changed, ...newRows, `Provenance/${String(provenance[0]!.id)}`].sort();
    };

    it('the T0 export has everything, and the changes touch what the scenario says', () => {
      expect(t0.resources.Patient).toHaveLength(11);
      expect(t0.deleted).toEqual([]);
      // 5 encounters + their 5 Provenances, one claim's EOB + Claim
      expect(changes.changed.filter((r) => r.startsWith('Encounter/'))).toHaveLength(5);
      expect(changes.changed.filter((r) => r.startsWith('Provenance/'))).toHaveLength(5);
      expect(changes.changed.filter((r) => r.startsWith('ExplanationOfBenefit/'))).toHaveLength(1);
      expect(changes.changed.filter((r) => r.startsWith('Claim/'))).toHaveLength(1);
      expect(changes.deleted).toHaveLength(2);
    });

    it('CLI --since T0: exactly the changed and new resources, and the two deleted conditions', async () => {
      const since = await cliExport(t.connector, t0.transactionTime);
      expect(refs(since.resources)).toEqual(expected(since));
      expect(since.deleted.sort()).toEqual(changes.deleted);
      // changed rows carry the database's change time, after T0 (an EOB's line changes live in another
      // table, claims_transactions, so its meta.lastUpdated stays the claim row's)
      for (const r of Object.values(since.resources).flat())
        if (r.resourceType !== 'ExplanationOfBenefit' && r.resourceType !== 'Claim')
          expect(Date.parse((r.meta as { lastUpdated: string }).lastUpdated)).toBeGreaterThan(Date.parse(t0.transactionTime));
      expect(Date.parse(since.transactionTime)).toBeGreaterThan(Date.parse(t0.transactionTime));
    }, 300_000);

    it('server _since=T0: the same resources, and the manifest lists the deletions under `deleted`', async () => {
      const since = await serverExport(t.connector, t0.transactionTime);
      expect(refs(since.resources)).toEqual(expected(since));
      expect(since.deleted.sort()).toEqual(changes.deleted);
      expect(since.manifest.deleted).toEqual([expect.objectContaining({ type: 'Bundle', count: 2 })]);
      expect(since.manifest.extension).toBeUndefined(); // every shipped mapping applied _since
    }, 300_000);
  });
}
