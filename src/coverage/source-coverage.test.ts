// fhir-bridge coverage over the shipped connectors: every table and column of each source is used by a
// mapping or left out on purpose with a reason, and a column the mappings do not know makes the command
// fail naming it.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coverageCommand } from '../cli/commands/coverage.js';
import { exportCommand } from '../cli/commands/export.js';
import { memoryIo } from '../cli/io.js';
import { loadConnectorConfig } from '../connectors/index.js';
import { loadMappingSet } from '../mapping/index.js';
import { openSource, openSourceAdapter } from '../pipeline/open-source.js';
import { loadCsv } from '../sample/load-csv.js';
import { readTableSchema } from '../sample/table-schema.js';
import { type SourceCoverage, sourceCoverage } from './source-coverage.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CONNECTORS = path.join(ROOT, 'connectors');

/** What every shipped connector must satisfy: each table and column used by a mapping or ignored with a reason. */
function expectAllAccountedFor(coverage: SourceCoverage, files: Record<string, unknown> | undefined): void {
  expect(coverage.unused).toEqual([]);
  expect(coverage.staleIgnores).toEqual([]);
  expect(coverage.ignoredButMapped).toEqual([]);
  expect(coverage.tables.length).toBeGreaterThanOrEqual(10);
  // a CSV folder's tables are its files, a file the `files:` map names being its table's only
  if (files) expect(coverage.tables.map((t) => t.table)).toEqual(Object.keys(files).sort());
  expect(coverage.notListed).toEqual([]);
  for (const t of coverage.tables) {
    expect(t.columns.length, `${t.table} has columns`).toBeGreaterThan(0);
    for (const c of t.columns) {
      if (c.status === 'ignored') expect(c.reason?.trim(), `${t.table}.${c.column} has a reason`).toBeTruthy();
      else expect(c.uses.length, `${t.table}.${c.column} is used`).toBeGreaterThan(0);
    }
  }
}

// The PostgreSQL and MariaDB connectors: source-coverage.int.test.ts (the sample loaded into a server).
describe.each(['synthea-csv', 'synthea-sqlite', 'synthea-duckdb', 'cms-ccw-rif', 'omop-csv', 'mimic-csv'])(
  'coverage of connectors/%s.yaml',
  (name) => {
    it('accounts for every table and column: used by a mapping or ignored with a reason', async () => {
      const source = await openSource(path.join(CONNECTORS, `${name}.yaml`));
      try {
        expectAllAccountedFor(await sourceCoverage(source.adapter, source.mappings, source.config.ignore), source.config.files);
      } finally {
        await source.close();
      }
    }, 120_000);
  },
);

// omop-sqlite and mimic-sqlite read a file that `load-csv` builds (no `sample:` builds it on first use): the
// test loads each sample into a scratch file with the connector's own table schema and reads that.
describe.each([
  ['omop-sqlite', 'omop-cdm54', 'omop-cdm54-synthea27nj'],
  ['mimic-sqlite', 'mimic-iv', 'mimic-iv-demo-2.2'],
])('coverage of connectors/%s.yaml over the sample loaded with load-csv', (name, tables, sample) => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-coverage-sqlite-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('accounts for every table and column: used by a mapping or ignored with a reason', async () => {
    const shipped = await loadConnectorConfig(path.join(CONNECTORS, `${name}.yaml`));
    const config = { ...shipped, path: path.join(dir, `${name}.sqlite`) };
    await loadCsv(config, await readTableSchema(path.join(CONNECTORS, 'tables', `${tables}.yaml`)), {
      folder: path.join(ROOT, 'samples', sample, 'csv'),
    });
    const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
    const adapter = await openSourceAdapter(config);
    try {
      expectAllAccountedFor(await sourceCoverage(adapter, mappings, config.ignore), undefined);
    } finally {
      await adapter.close();
    }
  }, 180_000);
});

describe('what coverage says about a column', () => {
  it('names the template elements reading it, in each mapping', async () => {
    const source = await openSource(path.join(CONNECTORS, 'synthea-csv.yaml'));
    try {
      const coverage = await sourceCoverage(source.adapter, source.mappings, source.config.ignore);
      const column = (table: string, col: string) => coverage.tables.find((t) => t.table === table)!.columns.find((c) => c.column === col)!;
      expect(coverage.tables.find((t) => t.table === 'imaging_studies')!.mappings).toEqual(['imagingstudy']);
      // a table: source column, a renamed sql: column (MIN(i.SOP_CODE) would be one), a nested $each column
      expect(column('devices', 'udi').uses.map((u) => u.element)).toContain('Device.distinctIdentifier');
      expect(column('imaging_studies', 'date').uses.map((u) => u.element)).toContain('ImagingStudy.started');
      expect(column('imaging_studies', 'sop_code').uses.map((u) => u.element)).toContain('ImagingStudy.series.instance.sopClass.code');
      expect(column('medications', 'stop').uses.map((u) => `${u.mapping} ${u.element}`)).toContain(
        'medicationrequest MedicationRequest.status',
      );
      // the claims query reads encounters.ENCOUNTERCLASS only inside its SQL
      expect(column('encounters', 'encounterclass').uses.map((u) => `${u.mapping} ${u.element}`)).toContain('eob sql');
      expect(column('payers', 'qols_avg')).toMatchObject({ status: 'ignored', reason: expect.stringContaining('simulation') });
    } finally {
      await source.close();
    }
  }, 120_000);
});

describe('fhir-bridge coverage on a copy of the sample', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-coverage-'));
    await cp(path.join(ROOT, 'samples/synthea-11pt/csv'), path.join(dir, 'csv'), { recursive: true });
    await cp(path.join(ROOT, 'samples/cms-ccw-rif'), path.join(dir, 'rif'), { recursive: true });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** A shipped connector file, rewritten to read the copy (paths made absolute). */
  async function connectorOver(name: string, folder: string): Promise<string> {
    const text = (await readFile(path.join(CONNECTORS, `${name}.yaml`), 'utf8'))
      .replace(/^path: .*$/m, `path: ${path.join(dir, folder)}`)
      .replaceAll('../mappings/', `${path.join(ROOT, 'mappings')}/`)
      .replace(/\$include: _/g, `$include: ${CONNECTORS}/_`);
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, text);
    return file;
  }

  it('fails when a column is added to a table, naming the column', async () => {
    const supplies = path.join(dir, 'csv', 'supplies.csv');
    const [header, ...rows] = (await readFile(supplies, 'utf8')).trimEnd().split('\n');
    await writeFile(supplies, [`${header},LOT_NUMBER`, ...rows.map((r) => `${r},L1`)].join('\n') + '\n');
    const io = memoryIo();
    const code = await coverageCommand({ connector: await connectorOver('synthea-csv', 'csv'), unused: true }, io);
    expect(code).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/1 column neither mapped nor ignored: supplies\.lot_number\b/);
    expect(io.stdout.join('\n')).toMatch(/^supplies \(read by supplydelivery\)\n {2}lot_number +UNUSED$/m);
  }, 120_000);

  it("reports each table's rows read / exported / rejected from an export's summary.json", async () => {
    const connector = await connectorOver('cms-ccw-rif', 'rif');
    const out = path.join(dir, 'out');
    expect(await exportCommand({ connector, out }, memoryIo())).toBe(0);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'));
    // every carrier line is one row of bcarrier; the mapping reads one row per claim (its first line)
    expect(summary.sources.bcarrier).toEqual({
      read: 1,
      exported: 1,
      rejected: 0,
      mappings: { 'eob-carrier': { read: 1, exported: 1, rejected: 0 } },
    });
    expect(summary.sources.beneficiaries.mappings).toHaveProperty('beneficiary');
    const io = memoryIo();
    expect(await coverageCommand({ connector, summary: path.join(out, 'summary.json') }, io)).toBe(0);
    expect(io.stdout.join('\n')).toMatch(/^bcarrier \(read by eob-carrier; rows read 1, exported 1, rejected 0\)$/m);
    expect(io.stdout.join('\n')).toMatch(/^beneficiary_history \(read by no mapping; ignored: .+\)$/m);
    expect(io.stdout.join('\n')).toMatch(/every column accounted for/);
  }, 120_000);
});
