import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingErrors } from '../errors.js';
import { loadMappingSet } from './index.js';
import { compileErrors, posOf } from '../../test/support/compile-text.js';

const base = (template: string, extra = '') => `mapping: m
source: { table: t, key: [ID] }
${extra}resources:
  - resourceType: Patient
    template:
${template}
`;

function expectOne(text: string, marker: string, message: RegExp, nth = 0) {
  const errors = compileErrors(text);
  expect(errors).toContainEqual({ ...posOf(text, marker, nth), message: expect.stringMatching(message) });
}

describe('mapping errors name file:line:column and what was expected', () => {
  it('malformed YAML', () => {
    const text = base('      gender: [male\n      birthDate: x');
    const errors = compileErrors(text);
    expect(errors[0]!.message).toMatch(/invalid YAML/);
    expect(errors[0]!.line).toBeGreaterThanOrEqual(posOf(text, '[male').line);
  });
  it('unknown top-level and resource keys', () => {
    expectOne(base('      gender: male', 'sauce: 1\n'), 'sauce', /unknown key "sauce" in a mapping: expected one of .*source/);
    const text = base('      gender: male').replace('    template:', '    profiles: x\n    template:');
    expectOne(text, 'profiles', /unknown key "profiles" in a resource/);
  });
  it('unknown lookup, child and directive', () => {
    expectOne(base('      gender: { $lookup: sex, $column: G }'), 'sex', /unknown lookup "sex"/);
    expectOne(base('      contact: { $each: kids, $template: { name: { text: "{N}" } } }'), 'kids', /unknown child "kids"/);
    expectOne(base('      gender: { $colum: G }'), '$colum', /unknown directive "\$colum"/);
  });
  it('bad FHIRPath', () => {
    expectOne(base('      active: { $if: "stop.exists(", $then: true }'), '"stop.exists("', /invalid FHIRPath/);
    expectOne(base('      active: true').replace('    template:', '    when: "a ="\n    template:'), '"a ="', /invalid FHIRPath/);
  });
  it('unknown FHIRPath function, at compile time', () => {
    expectOne(
      base('      active: { $if: "NAME.substrng(0, 1) = \'x\'", $then: true }'),
      '"NAME.substrng',
      /unknown FHIRPath function 'substrng'/,
    );
    expectOne(base('      gender: { $fhirpath: "G.lowr()" }'), '"G.lowr()"', /unknown FHIRPath function 'lowr' .*did you mean 'lower'/);
  });
  it('$as without $column or $fhirpath', () => {
    expectOne(base('      birthDate: { $as: date }'), '$as', /"\$as" needs \$column or \$fhirpath/);
  });
  it('bad $as type and unknown $tz', () => {
    expectOne(base('      birthDate: { $column: B, $as: datum }'), 'datum', /unknown type "datum"/);
    expectOne(base('      birthDate: { $column: B, $as: date, $tz: Mars/Base }'), 'Mars/Base', /unknown time zone/);
  });
  it('unclosed template', () => {
    expectOne(base('      id2: "Patient/{PATIENT"'), '"Patient/{PATIENT"', /unclosed "\{"/);
  });
  it('engine-set fields and id templates over non-key columns', () => {
    expectOne(base('      id: x'), 'id: x', /"id" is set by the engine/);
    const text = base('      active: true').replace('    template:', '    id: "{NAME}"\n    template:');
    expectOne(text, '"{NAME}"', /only use key columns \(id\)/);
  });
  it('duplicate mapping names', () => {
    const text = `${base('      active: true')}---\n${base('      active: false')}`;
    const at = posOf(text, 'mapping: m', 1);
    expect(compileErrors(text)).toContainEqual({
      line: at.line,
      column: at.column + 'mapping: '.length,
      message: expect.stringMatching(/duplicate mapping name "m"/),
    });
  });
  it('$ref to an unknown mapping, an ambiguous target and a key arity mismatch', () => {
    const text = `mapping: a
source: { table: a, key: [X, Y] }
resources:
  - { resourceType: Patient, template: { active: true } }
  - { resourceType: Person, template: { active: true } }
---
mapping: b
source: { table: b, key: ID }
resources:
  - resourceType: Basic
    template:
      subject: { reference: { $ref: nope, $key: [ID] } }
      author: { reference: { $ref: a, $key: [X, Y] } }
      extension: [{ url: x, valueReference: { reference: { $ref: a, $resourceType: Patient, $key: [X] } } }]
`;
    const errors = compileErrors(text);
    expect(errors).toContainEqual({
      ...posOf(text, '$ref: nope'),
      message: expect.stringMatching(/unknown mapping "nope" in \$ref: expected one of a, b/),
    });
    expect(errors).toContainEqual({
      ...posOf(text, '$ref: a,'),
      message: expect.stringMatching(/makes Patient, Person: add \$resourceType/),
    });
    expect(errors).toContainEqual({
      ...posOf(text, '$ref: a, $resourceType'),
      message: expect.stringMatching(/\$key has 1 column\(s\) but mapping "a" has key \[x, y\]/),
    });
  });
  it('$ref to a type the target makes with several id rules', () => {
    const text = `mapping: a
source: { table: a, key: X }
resources:
  - { resourceType: Coverage, id: "a-{X}", template: { status: active } }
  - { resourceType: Coverage, id: "b-{X}", template: { status: active } }
---
mapping: b
source: { table: b, key: ID }
resources:
  - { resourceType: Basic, template: { subject: { reference: { $ref: a, $key: ID } } } }
`;
    expectOne(text, '$ref: a', /several Coverage resources with different ids \(a-\{X\}, b-\{X\}\)/);
  });
  it('collects every error of the set, not just the first', () => {
    const text = base(
      '      gender: { $lookup: sex, $column: G }\n      birthDate: { $as: date }\n      name: [{ text: "{oops" }]',
      'sauce: 1\n',
    );
    expect(compileErrors(text).length).toBe(4);
  });
  it('source problems: no key, table and sql both, bad where operator, child without on', () => {
    const text = `source:
  table: t
  sql: SELECT 1
  where: [{ column: A, op: "~", value: 1 }]
children:
  kids: { table: k }
resources:
  - { resourceType: Patient, template: { active: true } }
`;
    const errors = compileErrors(text);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/needs "key"/);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/exactly one of "table" or "sql"/);
    expect(errors).toContainEqual({ ...posOf(text, '"~"'), message: expect.stringMatching(/unknown operator "~"/) });
    expect(errors).toContainEqual({ ...posOf(text, '{ table: k }'), message: expect.stringMatching(/child "kids" needs "on"/) });
  });
});

describe('loadMappingSet', () => {
  it('loads folders (skipping tests and lookups/), shared and CSV lookups, and reports errors across files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-bridge-mapping-'));
    mkdirSync(join(dir, 'lookups'));
    writeFileSync(join(dir, 'lookups', 'race.yaml'), 'file: ../race.csv\nignoreCase: true\n');
    writeFileSync(join(dir, 'race.csv'), 'source,system,code,display\nwhite,urn:oid:2.16.840.1.113883.6.238,2106-3,White\n');
    writeFileSync(
      join(dir, 'patient.yaml'),
      `source: { table: patients, key: Id }
lookups:
  race: { use: race }
resources:
  - resourceType: Patient
    id: "{Id}"
    template:
      extension: [{ url: http://hl7.org/fhir/us/core/StructureDefinition/us-core-race, extension: [{ url: ombCategory, valueCoding: { $lookup: race, $column: RACE } }] }]
`,
    );
    writeFileSync(join(dir, 'patient.test.yaml'), 'mapping: patient\ncases: []\n');
    const set = await loadMappingSet([dir]);
    expect(set.mappings.map((m) => m.name)).toEqual(['patient']);
    const p = set.byName.get('patient')!.map({ id: 'p1', race: 'WHITE' }).resources[0] as any;
    expect(p.extension[0].extension[0].valueCoding).toEqual({
      system: 'urn:oid:2.16.840.1.113883.6.238',
      code: '2106-3',
      display: 'White',
    });

    writeFileSync(
      join(dir, 'broken.yaml'),
      'source: { table: x, key: Id }\nresources:\n  - resourceType: Patient\n    template: { gender: { $lookup: nope, $column: G } }\n',
    );
    writeFileSync(join(dir, 'broken2.yaml'), 'source: [\n');
    const err = await loadMappingSet([dir]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MappingErrors);
    const messages = (err as MappingErrors).errors.map((e) => e.message);
    expect(messages.some((m) => m.startsWith(join(dir, 'broken.yaml') + ':4:'))).toBe(true);
    expect(messages.some((m) => m.startsWith(join(dir, 'broken2.yaml') + ':'))).toBe(true);
  });
  it('reports an unknown shared lookup at its use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-bridge-mapping-'));
    const text =
      'source: { table: x, key: Id }\nlookups:\n  race: { use: race }\nresources:\n  - { resourceType: Patient, template: { active: true } }\n';
    writeFileSync(join(dir, 'p.yaml'), text);
    const err = (await loadMappingSet([dir]).catch((e: unknown) => e)) as MappingErrors;
    expect(err.errors[0]!.location).toEqual({ file: join(dir, 'p.yaml'), ...posOf(text, 'race }') });
  });
});

describe('YAML conveniences', () => {
  it('supports anchors and << merge keys, and reports duplicate keys', async () => {
    const { compile } = await import('../../test/support/compile-text.js');
    const m = compile(`source: { table: t, key: ID }
resources:
  - resourceType: Basic
    template:
      meta: { tag: [&t { system: s, code: "{C}" }], security: [{ <<: *t, display: x }] }
`).mappings[0]!;
    expect((m.map({ id: 1, c: 'k' }).resources[0] as any).meta.security[0]).toEqual({ system: 's', code: 'k', display: 'x' });
    const text = 'source: { table: t, key: ID }\nsource: { table: u, key: ID }\nresources: []\n';
    expect(compileErrors(text)[0]).toMatchObject({ message: expect.stringMatching(/invalid YAML: .*unique/i) });
  });
});

describe('FHIR element names (R4 model)', () => {
  it('reports unknown elements and resource types with a suggestion, at the key', () => {
    const text = base(
      '      birthdate: { $column: B, $as: date }\n      name: [{ famly: "{L}" }]\n      contact: [{ relationshp: { text: x } }]\n      _gender: { extension: [{ url: u, valueCde: x }] }',
    );
    const errors = compileErrors(text);
    expect(errors).toContainEqual({
      ...posOf(text, 'birthdate'),
      message: 'unknown element "birthdate" in Patient (did you mean "birthDate"?)',
    });
    expect(errors).toContainEqual({ ...posOf(text, 'famly'), message: 'unknown element "famly" in HumanName (did you mean "family"?)' });
    expect(errors).toContainEqual({
      ...posOf(text, 'relationshp'),
      message: 'unknown element "relationshp" in Patient.contact (did you mean "relationship"?)',
    });
    expect(errors).toContainEqual({
      ...posOf(text, 'valueCde'),
      message: 'unknown element "valueCde" in Extension (did you mean "valueCode"?)',
    });
    expect(errors).toHaveLength(4);
    const t2 = base('      active: true').replace('resourceType: Patient', 'resourceType: Patinet');
    expect(compileErrors(t2)).toEqual([
      { ...posOf(t2, 'Patinet'), message: 'unknown resourceType "Patinet": expected an R4 resource type (did you mean "Patient"?)' },
    ]);
  });
  it('looks into $each, $if and $first but not into $literal or other directives', () => {
    const text = base(
      '      name: { $each: k, $template: { fmily: x } }\n      telecom: { $if: "a", $then: [{ sytem: phone }] }\n      address: { $literal: { lne: [x] } }',
      'children: { k: { table: k, on: { P: ID } } }\n',
    );
    expect(compileErrors(text).map((e) => e.message)).toEqual([
      'unknown element "fmily" in HumanName (did you mean "family"?)',
      'unknown element "sytem" in ContactPoint (did you mean "system"?)',
    ]);
  });
});
