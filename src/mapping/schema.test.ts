import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mappingFiles } from './index.js';
import { parseYamlFile } from './parse.js';
import { fragmentSchemaErrors, fullSchemaValidator, schemaErrors } from './schema.js';
import { posOf } from '../../test/support/compile-text.js';

const doc = (text: string) => parseYamlFile(text, '/x/m.yaml').documents[0]!;
const fullErrors = (text: string) => schemaErrors(doc(text), fullSchemaValidator());

const VALID = `mapping: obs
source: { table: observations, key: [ID], where: [{ column: TYPE, op: in, value: [a, b] }] }
children:
  comp: { sql: { default: "SELECT 1", postgres: "SELECT 2" }, on: { ENC: ID }, orderBy: CODE }
lookups:
  g: { map: { M: male }, default: unknown }
  r: { use: race }
search: { code: CODE }
resources:
  - resourceType: Observation
    id: "obs-{ID}"
    when: "type = 'a'"
    template:
      status: final
      code: { coding: [{ $lookup: g, $column: G }], text: "{T}" }
      subject: { reference: { $ref: patient, $key: PATIENT } }
      valueQuantity: { value: { $column: V, $as: decimal }, unit: "{{x}}" }
      component: { $each: comp, $template: { $when: "x.exists()", code: { text: "{parent.ID}" } } }
      note: [{ text: { $first: ["{A}", { $fhirpath: "b", $as: string }] } }]
      issued: { $if: "c.exists()", $then: { $column: C, $as: instant, $tz: Europe/Paris } }
      text: { $literal: { status: generated, div: "{raw}" } }
`;

describe('mapping.schema.json', () => {
  it('accepts every form of the language', () => {
    expect(fullErrors(VALID)).toEqual([]);
  });

  it('accepts every mapping shipped in mappings/', async () => {
    const root = fileURLToPath(new URL('../../mappings', import.meta.url));
    for (const file of await mappingFiles([root])) {
      for (const d of parseYamlFile(readFileSync(file, 'utf8'), file).documents) {
        expect({ file, errors: schemaErrors(d, fullSchemaValidator()).map((e) => e.message) }).toEqual({ file, errors: [] });
      }
    }
  });

  it('accepts $include / $with and extends / with as written (what an editor sees before expansion)', () => {
    const text = `extends: _base.yaml#eob
with: { table: hha, extra: [] }
mapping: eob-hha
source: { $include: _base.yaml#source, $with: { table: hha } }
children: { $include: _base.yaml#children, more: { table: x, on: { A: B } } }
lookups: { $include: _base.yaml#lookups, status: { map: { F: active } } }
resources:
  - $include: _base.yaml#eob
    $with: { prefix: hha }
  - resourceType: Claim
    template:
      $include: _base.yaml#claim
      use: claim
      item: [{ $include: _base.yaml#items }, { sequence: 9, $include: "#x" }]
`;
    expect(fullErrors(text)).toEqual([]);
    expect(fullErrors('extends: _base.yaml#eob\n')).toEqual([]);
    expect(fullErrors('extends: _base.yaml\n').map((e) => e.detail)).toEqual([expect.stringMatching(/^extends: must match pattern/)]);
    expect(fullErrors('mapping: m\n').map((e) => e.detail)).toEqual(['the mapping needs "source"', 'the mapping needs "resources"']);
  });

  it('fragment.schema.json accepts every shipped fragment file (_*.yaml) and rejects a bad frame at its place', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const fragments = ['mappings', 'mappings/cms-ccw-rif', 'mappings/synthea', 'mappings/synthea-claims', 'connectors'].flatMap((dir) =>
      readdirSync(join(root, dir))
        .filter((f) => /^_.*\.ya?ml$/.test(f))
        .map((f) => join(root, dir, f)),
    );
    expect(fragments.length).toBeGreaterThan(0);
    for (const file of fragments) {
      const d = parseYamlFile(readFileSync(file, 'utf8'), file).documents[0]!;
      expect({ file, errors: fragmentSchemaErrors(d).map((e) => e.message) }).toEqual({ file, errors: [] });
    }
    const bad = 'fragments:\n  ok: 1\n  "bad name": 2\nextra: 3\n';
    const errors = fragmentSchemaErrors(parseYamlFile(bad, '/x/_f.yaml').documents[0]!);
    expect(errors.map((e) => e.detail)).toEqual(expect.arrayContaining([expect.stringMatching(/unknown key "extra"/)]));
    expect(errors.find((e) => /extra/.test(e.detail))!.location).toMatchObject(posOf(bad, 'extra'));
    expect(errors.some((e) => /property name/.test(e.detail))).toBe(true);
  });

  it('rejects unknown keys, bad types and bad enum values at their YAML position', () => {
    const text = VALID.replace('search:', 'serch: {}\nsearch:').replace('$as: decimal', '$as: float');
    const errors = fullErrors(text);
    expect(errors).toContainEqual(
      expect.objectContaining({
        detail: expect.stringMatching(/unknown key "serch": expected one of mapping, description, source/),
        location: { file: '/x/m.yaml', ...posOf(text, 'serch') },
      }),
    );
    expect(errors.some((e) => e.location?.line === posOf(text, 'float').line)).toBe(true);
  });

  it('without templates (what the engine adds to its own checks) still checks the structure', () => {
    const text = VALID.replace('orderBy: CODE', 'orderBy: CODE, limit: 3');
    const errors = schemaErrors(doc(text));
    expect(errors.map((e) => e.detail)).toEqual([expect.stringMatching(/unknown key "limit"/)]);
    expect(errors[0]!.location).toMatchObject(posOf(text, 'limit'));
    expect(schemaErrors(doc(VALID.replace('$as: decimal', '$as: float')))).toEqual([]);
  });
});
