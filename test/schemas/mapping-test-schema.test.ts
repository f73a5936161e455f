// mappings/mapping-test.schema.json: what editors check `*.test.yaml` files against. Every shipped test file
// must pass it, a broken one must be rejected at the key that is wrong (and fail in the runner too), and
// the schema must offer exactly the keys src/mapping/mapping-tests.ts reads, so the two cannot drift apart.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMappingTests } from '../../src/mapping/index.js';
import { MAPPING_TEST_SCHEMA, ROOT, compileSchema, loadSchema, modelineSchema, schemaProblems } from './yaml-schema.js';

const MAPPINGS = path.join(ROOT, 'mappings');
const shipped = readdirSync(MAPPINGS)
  .filter((d) => statSync(path.join(MAPPINGS, d)).isDirectory())
  .flatMap((d) =>
    readdirSync(path.join(MAPPINGS, d))
      .filter((f) => f.endsWith('.test.yaml'))
      .map((f) => `${d}/${f}`),
  )
  .sort();
const validate = compileSchema(MAPPING_TEST_SCHEMA);
const schema = loadSchema(MAPPING_TEST_SCHEMA) as {
  properties: Record<string, unknown>;
  definitions: { case: { properties: Record<string, unknown> } };
};

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs a test file against a one-line mapping `m` in a scratch folder: the runner's errors and failures. */
async function runnerComplaints(testText: string): Promise<string[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mapping-test-schema-'));
  dirs.push(dir);
  await writeFile(
    path.join(dir, 'm.yaml'),
    'source: { table: t, key: [ID] }\nresources:\n  - resourceType: Basic\n    id: "{ID}"\n    template: { code: { text: "{ID}" } }\n',
  );
  await writeFile(path.join(dir, 'm.test.yaml'), testText);
  expect(await readdir(dir)).toHaveLength(2);
  const report = await runMappingTests([dir]);
  return [...report.errors.map((e) => e.message), ...report.cases.filter((c) => !c.passed).map((c) => c.failure ?? c.name)];
}

const GOOD =
  'mapping: m\ncases:\n  - name: one row\n    row: { ID: a1 }\n    expect:\n      - { resourceType: Basic, id: a1, code: { text: a1 } }\n';

describe('mappings/mapping-test.schema.json', () => {
  it('finds the shipped test files of every mapping set', () => {
    expect([...new Set(shipped.map((f) => f.split('/')[0]))]).toEqual(expect.arrayContaining(['cms-ccw-rif', 'synthea', 'synthea-claims']));
  });

  it.each(shipped)('%s validates and names the schema on its first line', (name) => {
    const file = path.join(MAPPINGS, name);
    expect(modelineSchema(file)).toBe(MAPPING_TEST_SCHEMA);
    expect(schemaProblems(validate, readFileSync(file, 'utf8'), file)).toEqual([]);
  });

  it('a valid test file passes both the schema and the runner', async () => {
    expect(schemaProblems(validate, GOOD, 'm.test.yaml')).toEqual([]);
    expect(await runnerComplaints(GOOD)).toEqual([]);
  });

  it('offers exactly the file and case keys the runner reads', async () => {
    const complaints = await runnerComplaints(
      `${GOOD}bogus_file_key: 1\n`.replace('  - name: one row\n', '  - name: one row\n    bogus_case_key: 1\n'),
    );
    const fileKeys = complaints.map((c) => /in a mapping test: expected one of (.*)$/m.exec(c)?.[1]).find(Boolean);
    const caseKeys = complaints.map((c) => /unknown key\(s\) bogus_case_key: expected (.*)$/m.exec(c)?.[1]).find(Boolean);
    expect(fileKeys, complaints.join('\n')).toBeDefined();
    expect(caseKeys, complaints.join('\n')).toBeDefined();
    expect(Object.keys(schema.properties).sort()).toEqual(fileKeys!.split(', ').sort());
    expect(Object.keys(schema.definitions.case.properties).sort()).toEqual(caseKeys!.split(', ').sort());
  });

  // Each broken variant of GOOD: [what, from, to, line:column of the problem, instance path, message].
  const broken: Array<[string, string, string, string, string, string]> = [
    [
      'an unknown comparison',
      '    row: { ID: a1 }\n',
      '    row: { ID: a1 }\n    compare: partial\n',
      '5:14',
      '/cases/0/compare',
      'must be equal to one of the allowed values',
    ],
    ['a misspelt case key', '    expect:\n', '    expected:\n', '5:5', '/cases/0/expected', 'must NOT have additional properties'],
    ['a row that is not a map', '    row: { ID: a1 }\n', '    row: a1\n', '4:10', '/cases/0/row', 'must be object'],
    [
      'an issue without its code',
      '    row: { ID: a1 }\n',
      '    row: { ID: a1 }\n    issues: [{ column: ID }]\n',
      '5:14',
      '/cases/0/issues/0',
      "must have required property 'code'",
    ],
  ];
  it.each(broken)('%s is rejected at its place, and the runner fails it too', async (_what, from, to, at, where, message) => {
    const text = GOOD.replace(from, to);
    expect(text).not.toBe(GOOD);
    expect(schemaProblems(validate, text, 'm.test.yaml')).toContain(`m.test.yaml:${at} ${where}: ${message}`);
    expect(await runnerComplaints(text)).not.toEqual([]);
  });

  it('rejects an issue code that is not a FHIR issue type', () => {
    const text = GOOD.replace('    row: { ID: a1 }\n', '    row: { ID: a1 }\n    issues: [{ code: invalid-code }]\n');
    expect(schemaProblems(validate, text, 'm.test.yaml')).toContain(
      'm.test.yaml:5:22 /cases/0/issues/0/code: must be equal to one of the allowed values',
    );
  });
});
