// What `validate` rejects, `export` and `serve` refuse too (issue 8, item 6): an unknown FHIRPath function
// fails when the mapping is compiled, an unknown column when the source is opened, each located at
// file:line:col, before a row is read; the shipped connectors still open and export.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MappingErrors } from '../../errors.js';
import { openSource } from '../../pipeline/open-source.js';
import { runCli } from '../../../test/support/run-cli.js';
import { serve } from './serve.js';

process.env.LOG_LEVEL ??= 'warn';
const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const SAMPLE_CSV = join(ROOT, 'samples', 'synthea-11pt', 'csv');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fhir-bridge-refuse-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = runCli;

/** A CSV connector over the Synthea sample with one Patient mapping whose template has `line` in it. */
async function connectorWith(name: string, line: string): Promise<{ connector: string; mapping: string; lines: string[] }> {
  const dir = join(tmp, name);
  await mkdir(dir);
  const mapping = join(dir, 'patient.yaml');
  const lines = [
    `mapping: ${name}`,
    'source:',
    '  table: patients',
    '  key: [Id]',
    'resources:',
    '  - resourceType: Patient',
    '    template:',
    '      active: true',
    line,
    '',
  ];
  await writeFile(mapping, lines.join('\n'));
  const connector = join(tmp, `${name}.yaml`);
  await writeFile(connector, `name: ${name}\nkind: csv\npath: ${SAMPLE_CSV}\ntimezone: UTC\nmappings:\n  - ${dir}\n`);
  return { connector, mapping, lines };
}

/** file:line:col of the first `marker` in the mapping's lines (1-based, as reported). */
function at(mapping: string, lines: string[], marker: string): string {
  const line = lines.findIndex((l) => l.includes(marker));
  return `${mapping}:${line + 1}:${lines[line]!.indexOf(marker) + 1}`;
}

async function ndjsonFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.ndjson'));
}

describe('export refuses what validate rejects', () => {
  it('an unknown FHIRPath function: exit 1 at file:line:col, nothing exported', async () => {
    const { connector, mapping, lines } = await connectorWith('fn-typo', '      gender: { $fhirpath: "GENDER.substrng(0, 1)" }');
    const out = join(tmp, 'fn-typo-out');
    const { code, err } = await run('export', '--connector', connector, '--out', out);
    expect(code).toBe(1);
    expect(err).toContain(`error: ${at(mapping, lines, '"GENDER.substrng')}: unknown FHIRPath function 'substrng' at 1:8 of`);
    expect(err).toContain("(did you mean 'substring'?)");
    expect(await ndjsonFiles(out)).toEqual([]);
    // validate says the same
    const validated = await run('validate', '--connector', connector);
    expect(validated.code).toBe(1);
    expect(validated.err).toContain(`${at(mapping, lines, '"GENDER.substrng')}: unknown FHIRPath function 'substrng'`);
  });

  it('an unknown column: exit 1 at file:line:col with a suggestion, nothing exported', async () => {
    const { connector, mapping, lines } = await connectorWith('column-typo', '      birthDate: { $column: BIRTHDAT }');
    const out = join(tmp, 'column-typo-out');
    const { code, err } = await run('export', '--connector', connector, '--out', out);
    expect(code).toBe(1);
    expect(err).toContain(`error: ${at(mapping, lines, 'BIRTHDAT')}: mapping column-typo: unknown column 'birthdat' in table patients`);
    expect(err).toContain("(did you mean 'birthdate'?)");
    expect(await ndjsonFiles(out)).toEqual([]);
    // validate lists it the same way, in its own format
    const validated = await run('validate', '--connector', connector);
    expect(validated.code).toBe(1);
    expect(validated.err).toContain(`error: ${at(mapping, lines, 'BIRTHDAT')}: mapping column-typo: unknown column 'birthdat'`);
    expect(validated.err).toMatch(/^1 problem in 1 mappings checked against /m);
  });

  it('an unknown column read by a FHIRPath expression is found too', async () => {
    const { connector, mapping, lines } = await connectorWith('fhirpath-column', '      gender: { $fhirpath: "GENDR.lower()" }');
    const { code, err } = await run('export', '--connector', connector, '--out', join(tmp, 'fhirpath-column-out'));
    expect(code).toBe(1);
    expect(err).toContain(`error: ${at(mapping, lines, '"GENDR')}: mapping fhirpath-column: unknown column 'gendr'`);
  });

  it('serve refuses to start, and a job opening the source (no ping) fails with the located message', async () => {
    const { connector, mapping, lines } = await connectorWith('serve-typo', '      birthDate: { $column: BIRTHDAT }');
    await expect(serve({ connector, open: true, dataDir: join(tmp, 'serve-data'), port: '0' })).rejects.toThrow(MappingErrors);
    // the worker thread of a job opens the connector file with { ping: false }
    const failure = await openSource(connector, { ping: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(MappingErrors);
    expect((failure as MappingErrors).message).toContain(
      `${at(mapping, lines, 'BIRTHDAT')}: mapping serve-typo: unknown column 'birthdat' in table patients`,
    );
    expect((failure as MappingErrors).toOperationOutcome().issue[0]).toMatchObject({ severity: 'error', code: 'invalid' });
  });

  it('a dead source is still a connection error, not every column missing', async () => {
    const file = join(tmp, 'dead.yaml');
    await writeFile(
      file,
      `name: dead\nkind: postgres\nconnection: postgres://nobody@127.0.0.1:9/none\nmappings: [${join(ROOT, 'mappings', 'synthea')}]\n`,
    );
    const failure = await openSource(file, { ping: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(MappingErrors);
  });
});

describe('the shipped local connectors pass the column check and export', () => {
  it.each(['synthea-sqlite', 'synthea-csv', 'synthea-duckdb', 'cms-ccw-rif'])(
    '%s',
    async (name) => {
      const out = join(tmp, `shipped-${name}`);
      const { code, err } = await run(
        'export',
        '--connector',
        join(ROOT, 'connectors', `${name}.yaml`),
        '--out',
        out,
        '--types',
        'Patient',
      );
      expect(err).toBe('');
      expect(code).toBe(0);
      expect(await ndjsonFiles(out)).toContain('Patient.000001.ndjson');
    },
    120_000,
  ); // a whole export each (DuckDB loads the CSV folder first): heavy on a loaded machine
});
