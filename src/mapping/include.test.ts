import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MappingErrors } from '../errors.js';
import { compileFiles } from './set.js';
import { loadMappingSet, mappingFiles } from './load.js';
import { posOf } from '../../test/support/compile-text.js';
import type { CompiledMappingSet } from './types.js';

/** Writes `files` (name → text) into a fresh folder; returns the folder. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'include-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function compileIn(dir: string, files: Record<string, string>): CompiledMappingSet {
  return compileFiles(Object.entries(files).map(([name, text]) => ({ file: join(dir, name), text })));
}

function errorsOf(fn: () => unknown): Array<{ message: string; file?: string; line?: number; column?: number; from?: string }> {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof MappingErrors)) throw e;
    return e.errors.map((x) => ({
      message: x.message,
      file: x.location?.file,
      line: x.location?.line,
      column: x.location?.column,
      ...(x.location?.includedFrom
        ? { from: `${x.location.includedFrom.file}:${x.location.includedFrom.line}:${x.location.includedFrom.column}` }
        : {}),
    }));
  }
  throw new Error('expected MappingErrors');
}

const CLAIMS = `fragments:
  source:
    sql: SELECT * FROM $(table) t
    key: [CLM_ID]
    patient: BENE_ID
  eob:
    resourceType: ExplanationOfBenefit
    id: $(prefix)-{CLM_ID}
    template:
      status: active
      type: { coding: [{ system: http://example.org/type, code: $(type) }] }
      supportingInfo:
        - { sequence: 1, category: { text: received } }
        - $(extraInfo)
        - { $include: "#last-info" }
      use: claim
  last-info:
    - { sequence: 9, category: { text: last } }
    - { sequence: 10, category: { text: "$(table) last" } }
`;

const HHA = `mapping: eob-hha
source: { $include: _claims.yaml#source, $with: { table: hha } }
resources:
  - $include: _claims.yaml#eob
    $with:
      table: hha
      prefix: hha
      type: 42
      extraInfo:
        - { sequence: 2, category: { text: visits } }
        - { sequence: 3, category: { text: "{VISITS}" } }
`;

const INLINE = `mapping: eob-hha
source: { sql: SELECT * FROM hha t, key: [CLM_ID], patient: BENE_ID }
resources:
  - resourceType: ExplanationOfBenefit
    id: hha-{CLM_ID}
    template:
      status: active
      type: { coding: [{ system: http://example.org/type, code: 42 }] }
      supportingInfo:
        - { sequence: 1, category: { text: received } }
        - { sequence: 2, category: { text: visits } }
        - { sequence: 3, category: { text: "{VISITS}" } }
        - { sequence: 9, category: { text: last } }
        - { sequence: 10, category: { text: "hha last" } }
      use: claim
`;

const ROW = { clm_id: 'c1', bene_id: 'b1', visits: '4' };

describe('$include / $with', () => {
  it('expands parameters, splices list fragments and list parameters, and maps rows exactly like the inline mapping', () => {
    const dir = folder({ '_claims.yaml': CLAIMS });
    const included = compileIn(dir, { 'eob-hha.yaml': HHA }).byName.get('eob-hha')!;
    const inline = compileIn(dir, { 'eob-hha.yaml': INLINE }).byName.get('eob-hha')!;
    expect(included.source).toEqual(inline.source);
    expect(included.source.query.sql).toBe('SELECT * FROM hha t');
    const out = included.map(ROW);
    expect(JSON.stringify(out)).toBe(JSON.stringify(inline.map(ROW)));
    expect(out.resources[0]!.id).toBe('hha-c1');
    expect((out.resources[0] as unknown as { supportingInfo: unknown[] }).supportingInfo).toHaveLength(5);
  });

  it('merges a map fragment with the keys written beside it, in written order, overrides in place', () => {
    const dir = folder({
      '_parts.yaml': 'fragments:\n  body: { status: active, use: claim, outcome: complete }\n',
    });
    const m = compileIn(dir, {
      'm.yaml': `mapping: m
source: { table: t, key: [ID] }
resources:
  - resourceType: ExplanationOfBenefit
    template:
      created: "{D}"
      $include: _parts.yaml#body
      use: preauthorization
      type: { text: x }
`,
    }).byName.get('m')!;
    const res = m.map({ id: '1', d: '2020-01-01' }).resources[0]!;
    expect(Object.keys(res)).toEqual(['resourceType', 'id', 'created', 'status', 'use', 'outcome', 'type']);
    expect((res as unknown as { use: string }).use).toBe('preauthorization');
  });

  it('extends: a mapping inherits a base mapping fragment and overrides its top-level keys', () => {
    const dir = folder({
      '_base.yaml': `fragments:
  institutional:
    source: { table: $(table), key: [ID] }
    lookups: { status: { map: { F: active }, default: cancelled } }
    resources:
      - resourceType: Claim
        id: $(table)-{ID}
        template: { status: { $lookup: status, $column: S } }
`,
    });
    const set = compileIn(dir, {
      'snf.yaml': 'extends: _base.yaml#institutional\nwith: { table: snf }\nmapping: snf\n',
      'hospice.yaml': 'mapping: hospice\nextends: _base.yaml#institutional\nwith: { table: hospice }\ndescription: hospice claims\n',
    });
    expect(set.byName.get('snf')!.source.query.table).toBe('snf');
    expect(set.byName.get('hospice')!.map({ id: '7', s: 'F' }).resources).toEqual([
      { resourceType: 'Claim', id: 'hospice-7', status: 'active' },
    ]);
    expect(set.byName.get('snf')!.map({ id: '7', s: 'X' }).resources[0]).toMatchObject({ id: 'snf-7', status: 'cancelled' });
  });

  it('shares lookups and children: a map section takes a fragment and adds its own entries', () => {
    const dir = folder({
      '_shared.yaml': `fragments:
  lookups: { status: { map: { F: active }, default: cancelled } }
  children: { lines: { table: $(table)_lines, on: { CLM_ID: ID }, orderBy: [N] } }
`,
    });
    const m = compileIn(dir, {
      'm.yaml': `mapping: m
source: { table: claims, key: [ID] }
children: { $include: _shared.yaml#children, $with: { table: claims } }
lookups:
  $include: _shared.yaml#lookups
  use: { map: { C: claim } }
resources:
  - resourceType: Claim
    template:
      status: { $lookup: status, $column: S }
      use: { $lookup: use, $column: U }
      item: { $each: lines, $template: { sequence: { $column: N, $as: positiveInt } } }
`,
    }).byName.get('m')!;
    expect(m.children).toEqual([
      { name: 'lines', query: { table: 'claims_lines' }, on: [{ child: 'clm_id', parent: 'id' }], orderBy: ['n'] },
    ]);
    expect(m.map({ id: '1', s: 'F', u: 'C' }, { lines: [{ n: '1' }, { n: '2' }] }).resources[0]).toEqual({
      resourceType: 'Claim',
      id: expect.any(String),
      status: 'active',
      use: 'claim',
      item: [{ sequence: 1 }, { sequence: 2 }],
    });
  });

  it('a whole-value parameter keeps its type; $$( is a literal $(; mapping files are not substituted', () => {
    const dir = folder({ '_f.yaml': 'fragments:\n  t: { active: $(flag), text: { div: "cost $$(usd) $(n)" } }\n' });
    const m = compileIn(dir, {
      'm.yaml':
        'mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template:\n      $include: _f.yaml#t\n      $with: { flag: true, n: 3 }\n      gender: "$(x)"\n',
    }).byName.get('m')!;
    expect(m.map({ id: '1' }).resources[0]).toMatchObject({ active: true, text: { div: 'cost $(usd) 3' }, gender: '$(x)' });
  });
});

describe('errors in and around fragments are located', () => {
  it('an error inside a fragment names the fragment file:line:column and the mapping that included it', () => {
    const frag = 'fragments:\n  body:\n    active: true\n    birthdate: { $column: BD, $as: date }\n';
    const mapping =
      'mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template: { $include: _f.yaml#body }\n';
    const dir = folder({ '_f.yaml': frag });
    const errors = errorsOf(() => compileIn(dir, { 'm.yaml': mapping }));
    const at = posOf(frag, 'birthdate');
    const from = posOf(mapping, '$include');
    expect(errors).toEqual([
      expect.objectContaining({ file: join(dir, '_f.yaml'), ...at, from: `${join(dir, 'm.yaml')}:${from.line}:${from.column}` }),
    ]);
    expect(errors[0]!.message).toBe(
      `${join(dir, '_f.yaml')}:${at.line}:${at.column}: unknown element "birthdate" in Patient (did you mean "birthDate"?) (included from ${join(dir, 'm.yaml')}:${from.line}:${from.column})`,
    );
  });

  it('a fragment included by a fragment names the whole chain', () => {
    const outer = 'fragments:\n  body:\n    name: [{ $include: _inner.yaml#name }]\n';
    const inner = 'fragments:\n  name: { family: "{LAST}", given: { $column: FIRST, $as: integr } }\n';
    const mapping =
      'mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template: { $include: _outer.yaml#body }\n';
    const dir = folder({ '_outer.yaml': outer, '_inner.yaml': inner });
    const [e] = errorsOf(() => compileIn(dir, { 'm.yaml': mapping }));
    const o = posOf(outer, '$include');
    const m = posOf(mapping, '$include');
    expect(e!.message).toMatch(/unknown type "integr"/);
    expect(e).toMatchObject({ file: join(dir, '_inner.yaml'), ...posOf(inner, 'integr') });
    expect(e!.message).toContain(
      `(included from ${join(dir, '_outer.yaml')}:${o.line}:${o.column}, from ${join(dir, 'm.yaml')}:${m.line}:${m.column})`,
    );
  });

  it('a value given by $with is located where $with gives it', () => {
    const dir = folder({ '_f.yaml': 'fragments:\n  body: { active: true, gender: $(g) }\n' });
    const mapping =
      'mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template: { $include: _f.yaml#body, $with: { g: { $colum: G } } }\n';
    const [e] = errorsOf(() => compileIn(dir, { 'm.yaml': mapping }));
    expect(e).toMatchObject({ file: join(dir, 'm.yaml'), ...posOf(mapping, '$colum') });
    expect(e!.message).toMatch(/unknown directive "\$colum"/);
  });

  it('include cycles, unknown fragments, unknown and unused parameters, bad references', () => {
    const frag = `fragments:
  a: { text: { $include: "#b" } }
  b: { div: { $include: "#a" } }
  p: { text: "$(nme)" }
`;
    const dir = folder({ '_f.yaml': frag, 'plain.yaml': 'fragments: { x: 1 }\n' });
    const tpl = (t: string) => `mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template: ${t}\n`;
    const one = (t: string) => {
      const errors = errorsOf(() => compileIn(dir, { 'm.yaml': tpl(t) }));
      expect(errors).toHaveLength(1);
      return errors[0]!;
    };
    const cycle = one('{ $include: _f.yaml#a }');
    expect(cycle.message).toMatch(/\$include cycle: _f\.yaml#a → _f\.yaml#b → _f\.yaml#a/);
    expect(cycle).toMatchObject({ file: join(dir, '_f.yaml'), ...posOf(frag, '"#a"') });

    const unknown = one('{ $include: _f.yaml#nope }');
    expect(unknown.message).toMatch(/unknown fragment "nope" in .*_f\.yaml: expected one of a, b, p/);
    expect(unknown).toMatchObject({ file: join(dir, 'm.yaml'), ...posOf(tpl('{ $include: _f.yaml#nope }'), '_f.yaml#nope') });

    const param = errorsOf(() => compileIn(dir, { 'm.yaml': tpl('{ $include: _f.yaml#p, $with: { name: x } }') }))[0]!;
    expect(param.message).toMatch(/unknown parameter \$\(nme\): \$with gives name/);
    expect(param).toMatchObject({ file: join(dir, '_f.yaml'), ...posOf(frag, '"$(nme)"') });

    const t = tpl('{ $include: _f.yaml#a, $with: { extra: 1 } }');
    const unused = errorsOf(() => compileIn(dir, { 'm.yaml': t })).find((e) => /no parameter/.test(e.message));
    expect(unused).toMatchObject({ file: join(dir, 'm.yaml'), ...posOf(t, 'extra') });

    expect(one('{ $include: _f.yaml }').message).toMatch(/expected "<fragment file>#<name>"/);
    expect(one('{ $include: plain.yaml#x }').message).toMatch(/is not a fragment file/);
    expect(one('{ $include: _missing.yaml#x }').message).toMatch(/cannot read fragment file/);
  });

  it('a fragment file with a bad frame is reported at its own line, with the including place', () => {
    const frag = 'fragment:\n  a: 1\n';
    const dir = folder({ '_f.yaml': frag });
    const [e] = errorsOf(() => compileIn(dir, { 'm.yaml': 'mapping: m\nsource: { $include: _f.yaml#a }\nresources: []\n' }));
    expect(e).toMatchObject({ file: join(dir, '_f.yaml'), line: 1 });
    expect(e!.message).toMatch(/unknown key "fragment"|needs "fragments"/);
    expect(e!.from).toBeDefined();
  });

  it('a list fragment cannot take keys beside it', () => {
    const dir = folder({ '_f.yaml': 'fragments:\n  l: [1, 2]\n' });
    const t =
      'mapping: m\nsource: { table: t, key: [ID] }\nresources:\n  - resourceType: Patient\n    template: { name: { $include: _f.yaml#l, text: x } }\n';
    const [e] = errorsOf(() => compileIn(dir, { 'm.yaml': t }));
    expect(e!.message).toMatch(/is a list, so keys cannot be written beside it/);
  });
});

describe('fragment files in a set folder', () => {
  it('are not loaded as mappings (files and folders named _*)', async () => {
    const dir = folder({
      '_shared.yaml': 'fragments:\n  src: { table: t, key: [ID] }\n',
      '_more/x.yaml': 'not: a mapping\n',
      'm.yaml': 'mapping: m\nsource: { $include: _shared.yaml#src }\nresources: [{ resourceType: Patient, template: { active: true } }]\n',
    });
    expect((await mappingFiles([dir])).map((f) => f.slice(dir.length + 1))).toEqual(['m.yaml']);
    const set = await loadMappingSet([dir]);
    expect(set.mappings.map((m) => m.name)).toEqual(['m']);
  });
});
