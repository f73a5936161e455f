// The generated template code (codegen.ts) and the interpreter it replaces on the hot path must never drift:
// every shipped mapping test case (mappings/**/*.test.yaml) runs through both, and the resources must be the
// same bytes (JSON text, key order included) and the row issues the same. A few templates that only the
// generator treats specially (hostile names, every directive) are compared the same way.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { compileMappingSource, runMappingTests, type MappingTestReport } from './index.js';
import type { Row } from '../connectors/types.js';

const root = fileURLToPath(new URL('../../mappings', import.meta.url));
const [compiled, interpreted] = await Promise.all([
  runMappingTests([root], { engine: 'compiled' }),
  runMappingTests([root], { engine: 'interpreted' }),
]);

function outputs(report: MappingTestReport): Array<[string, string]> {
  return report.cases.map((c) => [
    `${c.mapping}: ${c.name}`,
    JSON.stringify({ resources: c.actual?.resources, issues: c.actual?.issues, passed: c.passed }),
  ]);
}

describe("compiled templates give the interpreter's output on every shipped mapping test case", () => {
  it('both engines ran the same cases, and every case ran', () => {
    expect(compiled.cases.length).toBeGreaterThan(100);
    expect(compiled.cases.map((c) => c.name)).toEqual(interpreted.cases.map((c) => c.name));
    expect(compiled.cases.filter((c) => !c.actual).map((c) => c.name)).toEqual([]);
  });
  const a = outputs(compiled);
  const b = outputs(interpreted);
  a.forEach(([name, out], i) => {
    it(name, () => {
      expect(out).toBe(b[i]![1]);
    });
  });
});

function both(text: string, name: string, row: Row, children?: Record<string, Row[]>): [string, string] {
  const run = (engine: 'compiled' | 'interpreted') =>
    JSON.stringify(compileMappingSource(text, 'm.yaml', { engine }).byName.get(name)!.map(row, children));
  return [run('compiled'), run('interpreted')];
}

describe('compiled templates on constructs and names the shipped mappings do not use', () => {
  it('column names, keys and literal text that are not plain identifiers stay data', () => {
    // YAML is a superset of JSON: the mapping is written as JSON so that every odd character is exact
    const hostile = '");globalThis.pwned=1;("';
    const text = JSON.stringify({
      mapping: 'odd',
      source: { table: 't', key: 'a"b' },
      children: { kids: { table: 'k', on: { 'x\\y': 'a"b' } } },
      resources: [
        {
          resourceType: 'Basic',
          template: {
            code: { text: "${{x}} `tick` \\n {{a}} </script> \u2028 'q'" },
            extension: [
              { url: 'http://x/"];process.exit(1);//', valueString: `{a"b}-{${hostile}}` },
              { $each: 'kids', $template: { url: 'u\\', valueString: '{parent.a"b}/{x\\y}' } },
            ],
          },
        },
      ],
    });
    const row = { 'a"b': 'v1', [hostile.toLowerCase()]: 'v2' };
    const [c, i] = both(text, 'odd', row, { kids: [{ 'x\\y': 'k1' }, { 'x\\y': '' }] });
    expect(c).toBe(i);
    expect((globalThis as { pwned?: number }).pwned).toBeUndefined();
    const res = JSON.parse(c).resources[0];
    expect(res.code.text).toBe("${x} `tick` \\n {a} </script> \u2028 'q'");
    expect(res.extension).toEqual([
      { url: 'http://x/"];process.exit(1);//', valueString: 'v1-v2' },
      { url: 'u\\', valueString: 'v1/k1' },
      { url: 'u\\' },
    ]);
  });

  it('$if, $first, $when, $literal, $fhirpath, $lookup, $ref and nested $each give the same resources and issues', () => {
    const text = `
mapping: p
source: { table: p, key: ID }
resources:
  - resourceType: Patient
    id: "{ID}"
    template:
      active: { $column: ACTIVE, $as: boolean }
---
mapping: e
source: { table: e, key: ID }
children:
  lines: { table: l, on: { EOB: ID }, orderBy: [N] }
  adj: { table: a, on: { EOB: ID } }
lookups:
  kind: { map: { a: { system: "http://k", code: A }, b: "" }, default: { code: other } }
resources:
  - resourceType: ExplanationOfBenefit
    template:
      status: { $if: "status.exists()", $then: "{STATUS}", $else: active }
      use: { $first: ["{USE}", { $literal: claim }] }
      patient: { reference: { $ref: p, $key: [PAT] } }
      created: { $column: CREATED, $as: dateTime }
      type: { coding: [{ $lookup: kind, $column: KIND }, { $lookup: kind, $value: "{KIND2}" }] }
      identifier:
        - { $when: "id.exists()", value: "{ID}" }
        - { $fhirpath: "split.split(',')" }
      total:
        - category: { text: total }
          amount: { value: { $column: TOTAL, $as: decimal }, currency: USD }
      item:
        $each: lines
        $template:
          sequence: { $column: N, $as: positiveInt }
          productOrService: { text: "{CODE} of {parent.ID}" }
          adjudication:
            $each: adj
            $on: { LINE: N }
            $template:
              category: { text: "{CAT}" }
`;
    const rows: Array<[Row, Record<string, Row[]>]> = [
      [
        {
          id: 'e1',
          status: 'cancelled',
          use: '',
          pat: 'x1',
          created: '2020-01-02 03:04:05',
          kind: 'a',
          kind2: 'zz',
          split: 'a,b',
          total: '12.50',
        },
        {
          lines: [
            { n: 1, code: 'c1' },
            { n: 2, code: 'c2' },
          ],
          adj: [
            { line: 1, cat: 'paid' },
            { line: 1, cat: 'denied' },
            { line: 2, cat: '' },
          ],
        },
      ],
      [{ id: 'e2', kind: 'b', created: 'not a date', total: 'x' }, {}],
      [{ id: 'e3', pat: 'x', kind: 'a', total: 3 }, { lines: [{ n: 0, code: 'c' }] }],
      [{ id: null }, {}],
    ];
    for (const [row, children] of rows) {
      const [c, i] = both(text, 'e', row, children);
      expect(c).toBe(i);
    }
    // the cases above reach resources and issues both
    const out = rows.map(([row, children]) => JSON.parse(both(text, 'e', row, children)[0]));
    expect(out[0].resources[0].item[0].adjudication).toHaveLength(2);
    expect(out[1].issues.length).toBeGreaterThan(0);
    expect(out[2].issues.map((x: { column?: string }) => x.column)).toContain('n');
  });
});
