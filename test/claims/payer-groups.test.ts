// Group definitions a payer would offer (src/groups/group-directory.ts format): the RIF connector's own groups, and
// the payer and panel groups shipped in connectors/synthea-*.yaml.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAdapter } from '../../src/connectors/index.js';
import { loadConnectorConfig } from '../../src/connectors/config.js';
import type { SourceAdapter } from '../../src/connectors/types.js';
import { GroupDirectory, parseGroups } from '../../src/groups/group-directory.js';
import { loadMappingSet } from '../../src/mapping/index.js';
import { ROOT } from './export-helper.js';
import { table } from './synthea-expected.js';

describe('groups of connectors/cms-ccw-rif.yaml', () => {
  let adapter: SourceAdapter;
  let groups: GroupDirectory;
  beforeAll(async () => {
    const config = await loadConnectorConfig(path.join(ROOT, 'connectors/cms-ccw-rif.yaml'));
    adapter = await openAdapter(config);
    groups = new GroupDirectory(parseGroups(config.groups), adapter, await loadMappingSet(config.mappings));
  });
  afterAll(async () => adapter?.close());

  it('lists the sample beneficiary in each group, as Patient/<BENE_ID>', async () => {
    expect(groups.ids().sort()).toEqual(['medicare-advantage-enrollees', 'medicare-beneficiaries', 'part-d-enrollees']);
    for (const id of groups.ids()) {
      const group = await groups.resource(id);
      expect(
        group.member?.map((m) => m.entity.reference),
        id,
      ).toEqual(['Patient/567834']);
    }
  });
});

describe('payer groups for the Synthea connectors', () => {
  let adapter: SourceAdapter;
  let groups: GroupDirectory;
  beforeAll(async () => {
    const config = await loadConnectorConfig(path.join(ROOT, 'connectors/synthea-csv.yaml'));
    adapter = await openAdapter(config);
    groups = new GroupDirectory(parseGroups(config.groups), adapter, await loadMappingSet(config.mappings));
  });
  afterAll(async () => adapter?.close());

  it('each payer group holds exactly the patients enrolled with that payer', async () => {
    const payers = new Map(table('payers.csv').map((p) => [p.Id!, p.NAME!]));
    const transitions = table('payer_transitions.csv');
    for (const [id, name] of [
      ['payer-medicare', 'Medicare'],
      ['payer-medicaid', 'Medicaid'],
      ['payer-humana', 'Humana'],
      ['uninsured', 'NO_INSURANCE'],
    ]) {
      const expected = new Set(transitions.filter((t) => payers.get(t.PAYER!) === name).map((t) => `Patient/${t.PATIENT}`));
      const group = await groups.resource(id!);
      expect(new Set(group.member?.map((m) => m.entity.reference)), id).toEqual(expected);
      expect(expected.size, id).toBeGreaterThan(0);
    }
    const claimants = await groups.resource('claimants');
    expect(claimants.quantity).toBe(new Set(table('claims.csv').map((c) => c.PATIENTID)).size);
    const diabetes = await groups.resource('diabetes-panel');
    const diabetic = new Set(
      table('conditions.csv')
        .filter((c) => c.CODE === '44054006')
        .map((c) => `Patient/${c.PATIENT}`),
    );
    expect(new Set(diabetes.member?.map((m) => m.entity.reference))).toEqual(diabetic);
  });

  it('every Synthea connector ships the same groups', async () => {
    const files = ['synthea-sqlite', 'synthea-csv', 'synthea-postgres', 'synthea-mariadb'];
    const all = await Promise.all(files.map((f) => loadConnectorConfig(path.join(ROOT, `connectors/${f}.yaml`))));
    for (const c of all) expect(c.groups, c.name).toEqual(all[0]!.groups);
    expect(Object.keys(all[0]!.groups ?? {}).length).toBeGreaterThan(0);
  });
});
