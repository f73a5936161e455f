// connectors/connector.schema.json: what editors check connector files against. Every shipped connector
// must pass it, a broken one must be rejected at the key that is wrong (as the loader rejects it too), and
// the schema must offer exactly the keys src/connectors/config.ts accepts, so the two cannot drift apart.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConnectorConfig } from '../../src/connectors/config.js';
import { kindSpellings } from '../../src/connectors/registry.js';
import { MappingError } from '../../src/errors.js';
import { CONNECTOR_SCHEMA, FRAGMENT_SCHEMA, ROOT, compileSchema, loadSchema, modelineSchema, schemaProblems } from './yaml-schema.js';

const CONNECTORS = path.join(ROOT, 'connectors');
const yamlFiles = readdirSync(CONNECTORS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
// `_<name>.yaml` files hold fragments other connectors $include, not connectors.
const shipped = yamlFiles.filter((f) => !f.startsWith('_'));
const fragmentFiles = yamlFiles.filter((f) => f.startsWith('_'));
const validate = compileSchema(CONNECTOR_SCHEMA);
const schema = loadSchema(CONNECTOR_SCHEMA) as { properties: Record<string, { enum?: string[] }> };

/** The loader's verdict on connector text: undefined when it accepts it, else its message. */
function loaderError(text: string, file = path.join(CONNECTORS, 'example.yaml')): string | undefined {
  try {
    parseConnectorConfig(text, file, {});
    return undefined;
  } catch (err) {
    if (err instanceof MappingError) return err.message;
    throw err;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Line and column (1-based) of the first occurrence of `token` on the line that contains `lineText`. */
function positionOf(text: string, lineText: string, token: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineText));
  if (i < 0) throw new Error(`no line with ${lineText}`);
  return `${i + 1}:${lines[i]!.indexOf(token) + 1}`;
}

describe('connectors/connector.schema.json', () => {
  it('finds the shipped connector files', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(5);
  });

  it.each(shipped)('%s validates and names the schema on its first line', (name) => {
    const file = path.join(CONNECTORS, name);
    expect(modelineSchema(file)).toBe(CONNECTOR_SCHEMA);
    expect(schemaProblems(validate, readFileSync(file, 'utf8'), file)).toEqual([]);
  });

  it.each(fragmentFiles)('fragment file %s validates against the fragment schema it names', (name) => {
    const file = path.join(CONNECTORS, name);
    expect(modelineSchema(file)).toBe(FRAGMENT_SCHEMA);
    expect(schemaProblems(compileSchema(FRAGMENT_SCHEMA), readFileSync(file, 'utf8'), file)).toEqual([]);
  });

  // What editors cannot see: the groups a connector gets once its $include is expanded by the loader.
  it.each(shipped)('%s: the groups the loader expands validate as connector groups', (name) => {
    const file = path.join(CONNECTORS, name);
    const config = parseConnectorConfig(readFileSync(file, 'utf8'), file, {});
    const groups = compileSchema(CONNECTOR_SCHEMA, '#/properties/groups');
    expect(groups(config.groups ?? {}), JSON.stringify(groups.errors)).toBe(true);
    expect(Object.keys(config.groups ?? {}).length).toBeGreaterThan(0);
  });

  it('the Synthea connectors share one groups fragment', () => {
    const synthea = shipped.filter((f) => f.startsWith('synthea-'));
    expect(synthea).toEqual([
      'synthea-csv.yaml',
      'synthea-duckdb.yaml',
      'synthea-mariadb.yaml',
      'synthea-postgres.yaml',
      'synthea-sqlite.yaml',
    ]);
    for (const name of synthea)
      expect(readFileSync(path.join(CONNECTORS, name), 'utf8')).toMatch(/^groups: \{\$include: _synthea-groups\.yaml#groups\}$/m);
  });

  it('offers exactly the top-level keys the loader accepts', () => {
    const message = loaderError('kind: csv\npath: data\nnot_a_key: 1\n');
    const listed = /expected one of ([^)]*)\)/.exec(message ?? '')?.[1]?.split(', ');
    expect(listed, message).toBeDefined();
    expect(Object.keys(schema.properties).sort()).toEqual([...listed!].sort());
  });

  it('encoding: a label TextDecoder knows passes both; one it does not is refused by the loader at its place', () => {
    for (const label of ['latin1', 'windows-1252', 'utf-8']) {
      const text = `kind: csv\npath: data\nencoding: ${label}\n`;
      expect(schemaProblems(validate, text, 'example.yaml')).toEqual([]);
      expect(loaderError(text)).toBeUndefined();
    }
    expect(parseConnectorConfig('kind: csv\npath: data\nencoding: latin1\n', path.join(CONNECTORS, 'x.yaml'), {}).encoding).toBe('latin1');
    expect(schemaProblems(validate, 'kind: csv\npath: data\nencoding: 1\n', 'example.yaml')).toContainEqual(
      expect.stringMatching(/\/encoding: must be string/),
    );
    expect(loaderError('kind: csv\npath: data\nencoding: klingon\n')).toMatch(/:3:\d+.*encoding: 'klingon'/);
  });

  it('offers exactly the kinds (names and aliases) of the dialect registry', () => {
    expect([...schema.properties.kind!.enum!].sort()).toEqual(kindSpellings().sort());
  });

  it.for(schema.properties.kind!.enum!)('kind %s is one the loader accepts', (kind) => {
    const text = ['csv', 'sqlite', 'sqlite3', 'duckdb'].includes(kind)
      ? `kind: ${kind}\npath: data\n`
      : `kind: ${kind}\nconnection: "db://host/name"\n`;
    expect(schemaProblems(validate, text, 'example.yaml')).toEqual([]);
    expect(loaderError(text)).toBeUndefined();
  });

  // Each broken variant of a shipped file: [file, line to change, replacement, token the problem sits on,
  // instance path, message], and whether the loader rejects it too (groups are checked later, at export).
  const broken: Array<[string, string, string, string, string, string, boolean]> = [
    ['synthea-postgres.yaml', '  max: 10', '  max: ten', 'ten', '/pool/max', 'must be integer', true],
    ['synthea-sqlite.yaml', 'mappings:', 'mapings:', 'mapings', '/mapings', 'must NOT have additional properties', true],
    ['synthea-mariadb.yaml', 'kind: mariadb', 'kind: maria', 'maria', '/kind', 'must be equal to one of the allowed values', true],
    ['cms-ccw-rif.yaml', "delimiter: '|'", "delimiter: '||'", "'||'", '/delimiter', 'must match pattern', true],
    [
      'synthea-csv.yaml',
      'path: ../samples/synthea-11pt/csv',
      '# no path',
      'name: synthea-csv',
      '/',
      "must have required property 'path'",
      true,
    ],
    [
      'cms-ccw-rif.yaml',
      '    name: Part D enrollees',
      '    title: Part D enrollees',
      'title',
      '/groups/part-d-enrollees/title',
      'must NOT have additional properties',
      false,
    ],
    [
      'synthea-csv.yaml',
      'groups: {$include: _synthea-groups.yaml#groups}',
      'groups: {$include: _synthea-groups.yaml}',
      '_synthea-groups.yaml}',
      '/groups/$include',
      'must match pattern',
      true,
    ],
    [
      'synthea-sqlite.yaml',
      'groups: {$include: _synthea-groups.yaml#groups}',
      'groups: {$include: _synthea-groups.yaml#groups, name: x}',
      'name',
      '/groups/name',
      'must NOT have additional properties',
      true,
    ],
  ];
  it.each(broken)('%s with "%s" → "%s" is rejected at its place', (name, from, to, token, where, message, loaderRejects) => {
    const original = readFileSync(path.join(CONNECTORS, name), 'utf8');
    expect(original).toContain(from);
    const text = original.replace(from, to);
    const at = where === '/' ? positionOf(text, token, token) : positionOf(text, to, token);
    const problems = schemaProblems(validate, text, path.join(CONNECTORS, name));
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^${escapeRegExp(`${name}:${at} ${where}: ${message}`)}`)));
    if (loaderRejects) expect(loaderError(text, path.join(CONNECTORS, name))).toBeDefined();
  });

  it('the Synthea connectors share one ignore fragment, and every shipped connector ignores with reasons', () => {
    for (const name of shipped.filter((f) => f.startsWith('synthea-')))
      expect(readFileSync(path.join(CONNECTORS, name), 'utf8')).toMatch(/^ignore: \{\$include: _synthea-ignore\.yaml#ignore\}$/m);
    const ignore = compileSchema(CONNECTOR_SCHEMA, '#/properties/ignore');
    for (const name of shipped) {
      const file = path.join(CONNECTORS, name);
      const config = parseConnectorConfig(readFileSync(file, 'utf8'), file, {});
      expect(Object.keys(config.ignore ?? {}).length, `${name} ignores something`).toBeGreaterThan(0);
      expect(ignore(config.ignore), JSON.stringify(ignore.errors)).toBe(true);
    }
  });

  it.each([
    ['ignore:\n  patients:\n    columns: {}\n', '/ignore/patients'],
    ['ignore:\n  patients:\n    columns: { income: "" }\n', '/ignore/patients'],
    ['ignore:\n  patients:\n    reason: simulation totals\n', '/ignore/patients'],
    ['ignore:\n  patients: { colums: { income: x } }\n', '/ignore/patients'],
    ['ignore:\n  patients: 3\n', '/ignore/patients'],
  ])('rejects the ignore entry %j in the schema and the loader', (entry, where) => {
    const text = `kind: csv\npath: data\n${entry}`;
    expect(schemaProblems(validate, text, 'example.yaml').some((p) => p.includes(where))).toBe(true);
    expect(loaderError(text)).toMatch(/ignore\.patients/);
  });

  it('accepts table → reason and table → { reason?, columns }', () => {
    const text =
      'kind: csv\npath: data\nignore:\n  audit_log: not clinical data\n  patients:\n    reason: simulation\n    columns: { income: simulation input }\n';
    expect(schemaProblems(validate, text, 'example.yaml')).toEqual([]);
    expect(loaderError(text)).toBeUndefined();
    expect(parseConnectorConfig(text, path.join(CONNECTORS, 'example.yaml'), {}).ignore).toEqual({
      audit_log: 'not clinical data',
      patients: { reason: 'simulation', columns: { income: 'simulation input' } },
    });
  });

  it('rejects a group that gives both sql and table, and a roster table without its column', () => {
    const base = readFileSync(path.join(CONNECTORS, 'cms-ccw-rif.yaml'), 'utf8');
    const both = base.replace('    table: beneficiaries\n', '    table: beneficiaries\n    sql: SELECT BENE_ID FROM beneficiaries\n');
    expect(schemaProblems(validate, both, 'cms.yaml').some((p) => p.includes('/groups/medicare-beneficiaries'))).toBe(true);
    const noColumn = base.replace('    column: BENE_ID\n', '');
    expect(schemaProblems(validate, noColumn, 'cms.yaml')).toContainEqual(
      expect.stringContaining("/groups/medicare-beneficiaries: must have required property 'column'"),
    );
  });
});
