// The CLI run in-process against the real connectors, mapping engine and shipped Synthea sample.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../connectors/index.js';
import { loadSample } from '../sample/load-sample.js';
import { runCli } from '../../test/support/run-cli.js';
import type { SummaryFile } from './commands/export.js';

process.env.LOG_LEVEL ??= 'warn';
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SAMPLE_CSV = join(ROOT, 'samples', 'synthea-11pt', 'csv');
const MAPPINGS = join(ROOT, 'mappings', 'synthea');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fhir-bridge-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = runCli;

async function csvConnector(name: string, mappings: string): Promise<string> {
  const file = join(tmp, `${name}.yaml`);
  await writeFile(file, `name: ${name}\nkind: csv\npath: ${SAMPLE_CSV}\ntimezone: UTC\nmappings:\n  - ${mappings}\n`);
  return file;
}

describe('fhir-bridge export', () => {
  it('exports the embedded sample to NDJSON files and writes summary.json', async () => {
    const out = join(tmp, 'export-all');
    const { code, out: stdout } = await run('export', '--out', out);
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as SummaryFile;
    expect(summary.connector).toBe('synthea-sqlite');
    // every resource counted is a line in a file of its type, and every file is listed
    const files = (await readdir(out)).filter((f) => f.endsWith('.ndjson'));
    expect(files.sort()).toEqual([...summary.output, ...summary.error].map((f) => f.file).sort());
    for (const [type, count] of Object.entries(summary.counts)) {
      let lines = 0;
      for (const f of summary.output.filter((o) => o.type === type)) {
        const text = await readFile(join(out, f.file), 'utf8');
        const parsed = text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { resourceType: string });
        expect(parsed.every((r) => r.resourceType === type)).toBe(true);
        lines += parsed.length;
      }
      expect(lines).toBe(count);
    }
    expect(summary.counts.Patient).toBe(11);
    expect(stdout).toMatch(/^Patient\s+11\s+1/m);
  });

  it('exports only the requested types, gzipped and split', async () => {
    const out = join(tmp, 'export-some');
    const { code } = await run('export', '--out', out, '--types', 'Patient,Condition', '--gzip', '--max-per-file', '100');
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as SummaryFile;
    expect(Object.keys(summary.counts).sort()).toEqual(['Condition', 'Patient']);
    const conditionParts = summary.output.filter((f) => f.type === 'Condition');
    expect(conditionParts.length).toBe(Math.ceil(summary.counts.Condition! / 100));
    expect(conditionParts.every((f) => f.file.endsWith('.ndjson.gz') && f.count <= 100)).toBe(true);
  });

  it('exports one patient with --patient', async () => {
    const all = JSON.parse(await readFile(join(tmp, 'export-all', 'Patient.000001.ndjson'), 'utf8').then((t) => t.split('\n')[0]!)) as {
      id: string;
    };
    const out = join(tmp, 'export-one');
    const { code } = await run('export', '--out', out, '--patient', all.id, '--types', 'Patient,Encounter');
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as SummaryFile;
    expect(summary.counts.Patient).toBe(1);
    const encounters = (await readFile(join(out, 'Encounter.000001.ndjson'), 'utf8')).trim().split('\n');
    expect(encounters.every((l) => (JSON.parse(l) as { subject: { reference: string } }).subject.reference === `Patient/${all.id}`)).toBe(
      true,
    );
  });

  it('exits 1 with a clear message for bad options', async () => {
    const since = await run('export', '--out', join(tmp, 'x'), '--since', 'yesterday');
    expect(since.code).toBe(1);
    expect(since.err).toMatch(/--since "yesterday": expected an instant/);
    const types = await run('export', '--out', join(tmp, 'x'), '--types', 'Pateint');
    expect(types.code).toBe(1);
    expect(types.err).toMatch(/no mapping makes Pateint/);
  });

  it('exits 1 when the database cannot be reached, without a stack trace', async () => {
    const file = join(tmp, 'dead.yaml');
    await writeFile(file, `name: dead\nkind: postgres\nconnection: postgres://nobody:s3cret@127.0.0.1:9/none\nmappings: [${MAPPINGS}]\n`);
    const { code, err } = await run('export', '--connector', file, '--out', join(tmp, 'dead-out'));
    expect(code).toBe(1);
    expect(err).toMatch(/^error: .*dead/m);
    expect(err).not.toMatch(/\n\s+at /);
    expect(err).not.toContain('s3cret');
  });

  it('exits 1 and prints file:line:col for a broken mapping', async () => {
    const dir = join(tmp, 'broken-mappings');
    await cp(MAPPINGS, dir, { recursive: true });
    const file = join(dir, 'patient.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^source:/m, 'source:\n  bogus: 1'));
    const connector = await csvConnector('broken', dir);
    const { code, err } = await run('export', '--connector', connector, '--out', join(tmp, 'broken-out'));
    expect(code).toBe(1);
    expect(err).toContain(`${file}:`);
    expect(err).toMatch(/patient\.yaml:\d+:\d+: .*bogus/);
  });
});

describe('fhir-bridge validate', () => {
  it('passes on the shipped mappings', async () => {
    const { code, out, err } = await run('validate');
    expect(code).toBe(0);
    expect(out).toMatch(/^ok: \d+ mappings/);
    expect(err).not.toContain('warning');
  });

  it('warns, with the location and the index to create, when a child join column has no index', async () => {
    const database = join(tmp, 'child-index.sqlite');
    const connector = join(tmp, 'child-index.yaml');
    const dir = join(tmp, 'child-index-mappings');
    await mkdir(dir);
    const mapping = join(dir, 'claim-lines.yaml');
    await writeFile(
      mapping,
      [
        'mapping: claim-lines',
        'source:',
        '  table: claims',
        '  key: [ID]',
        '  patient: PATIENTID',
        'children:',
        '  lines:',
        '    table: claims_transactions',
        '    on: { CLAIMID: ID }',
        'resources:',
        '  - resourceType: Basic',
        '    template:',
        '      code: { text: claim }',
        '      subject: { reference: "Patient/{PATIENTID}" }',
        '',
      ].join('\n'),
    );
    await writeFile(connector, `name: child-index\nkind: sqlite\npath: ${database}\ntimezone: UTC\nmappings:\n  - ${dir}\n`);
    await loadSample(await loadConnectorConfig(connector));

    const indexed = await run('validate', '--connector', connector);
    expect(indexed.code).toBe(0);
    expect(indexed.err).not.toContain('warning');

    // drop whichever index the loader made on claims_transactions(claimid)
    const db = new Database(database);
    const indexes = db.prepare(`select name from sqlite_master where type = 'index' and tbl_name = 'claims_transactions'`).all() as Array<{
      name: string;
    }>;
    const claimIndexes = indexes.filter(
      (i) =>
        (db.prepare(`pragma index_info('${i.name}')`).all() as Array<{ seqno: number; name: string }>)[0]?.name.toLowerCase() === 'claimid',
    );
    expect(claimIndexes.length).toBeGreaterThan(0);
    for (const i of claimIndexes) db.exec(`drop index "${i.name}"`);
    db.close();

    const unindexed = await run('validate', '--connector', connector);
    expect(unindexed.code).toBe(0);
    expect(unindexed.out).toMatch(/^ok: 1 mappings/);
    const warning = unindexed.err.split('\n').find((l) => l.startsWith('warning: '));
    expect(warning).toBeDefined();
    expect(warning).toMatch(
      new RegExp(
        `^warning: ${mapping.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: child "lines" is fetched by claims_transactions\\.claimid, which has no index`,
      ),
    );
    expect(warning).toContain('CREATE INDEX claims_transactions_claimid_idx ON claims_transactions (claimid)');
  }, 120_000);

  it('finds a wrong column with its location and a suggestion', async () => {
    const dir = join(tmp, 'typo-mappings');
    await cp(MAPPINGS, dir, { recursive: true });
    const file = join(dir, 'condition.yaml');
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('onsetDateTime: { $column: START'));
    expect(line).toBeGreaterThan(0);
    lines[line] = lines[line]!.replace('$column: START', '$column: STRAT');
    await writeFile(file, lines.join('\n'));
    const connector = await csvConnector('typo', dir);
    const { code, err } = await run('validate', '--connector', connector);
    expect(code).toBe(1);
    const column = lines[line]!.indexOf('STRAT') + 1;
    const reported = err.split('\n').find((l) => l.includes("'STRAT'") || l.includes("'strat'"));
    expect(reported).toBeDefined();
    expect(reported).toContain(`${file}:${line + 1}:`);
    expect(reported).toMatch(/did you mean 'start'/);
    // the column is where the name is, or where its $column node starts
    const reportedColumn = Number(/:(\d+):(\d+): /.exec(reported!)![2]);
    expect(reportedColumn).toBeLessThanOrEqual(column);
  });
});

describe('fhir-bridge preview', () => {
  it('prints the first rows and the resources they become', async () => {
    const { code, out } = await run('preview', 'patient', '--limit', '2', '--json');
    expect(code).toBe(0);
    const result = JSON.parse(out) as {
      mapping: string;
      items: Array<{ row: Record<string, unknown>; resources: Array<{ resourceType: string; id: string }> }>;
    };
    expect(result.mapping).toBe('patient');
    expect(result.items).toHaveLength(2);
    for (const item of result.items) {
      expect(item.resources.map((r) => r.resourceType)).toEqual(['Patient']);
      expect(item.row.id).toBeDefined();
    }
  });

  it('accepts a mapping file and exits 1 for an unknown mapping', async () => {
    const ok = await run('preview', join(MAPPINGS, 'condition.yaml'), '-n', '1');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('"resourceType": "Condition"');
    const bad = await run('preview', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/no mapping named 'nope'; known: .*patient/);
  });
});

describe('fhir-bridge test', () => {
  it("runs the connector's mapping tests and exits 0 when they pass", async () => {
    const { code, out } = await run('test');
    expect(code).toBe(0);
    expect(out).toMatch(/\d+ passed, 0 failed in \d+ test files/);
  });

  it('exits 1 and shows the failing case when an expectation does not hold', async () => {
    const dir = join(tmp, 'failing-tests');
    await cp(MAPPINGS, dir, { recursive: true });
    const file = join(dir, 'patient.test.yaml');
    const text = await readFile(file, 'utf8');
    expect(text).toContain('GENDER: F');
    await writeFile(file, text.replace('GENDER: F', 'GENDER: M'));
    const { code, out, err } = await run('test', file);
    expect(code).toBe(1);
    expect(out).toMatch(/FAIL {2}patient: /);
    expect(err).toMatch(/[1-9]\d* failed in 1 test file/);
  });
});
