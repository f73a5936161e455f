import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test/support/run-cli.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');

describe('fhir-bridge load-csv', () => {
  let dir: string;
  let connector: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'load-csv-cli-'));
    connector = path.join(dir, 'omop.yaml');
    await writeFile(connector, `name: omop-cli\nkind: sqlite\npath: ${JSON.stringify(path.join(dir, 'omop.sqlite'))}\nmappings: []\n`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the chosen tables of the OMOP sample and prints rows per table', async () => {
    const args = ['load-csv', '--schema', path.join(ROOT, 'connectors/tables/omop-cdm54.yaml')];
    args.push(
      '--from',
      path.join(ROOT, 'samples/omop-cdm54-synthea27nj/csv'),
      '--into',
      connector,
      '--table',
      'person',
      '--table',
      'death',
    );
    const run = await runCli(...args);
    expect(run.err).toContain('person (1/2)');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/person\s+28/);
    expect(run.out).toMatch(/death\s+3/);
    const db = new Database(path.join(dir, 'omop.sqlite'), { readonly: true });
    try {
      expect(db.prepare('select count(*) n from person').get()).toEqual({ n: 28 });
    } finally {
      db.close();
    }
    // a second load without --replace refuses, saying how to go on
    const again = await runCli(...args);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exist.*--replace/);
  });

  it('names an unknown table of the schema', async () => {
    const run = await runCli(
      'load-csv',
      '--schema',
      path.join(ROOT, 'connectors/tables/omop-cdm54.yaml'),
      '--from',
      path.join(ROOT, 'samples/omop-cdm54-synthea27nj/csv'),
      '--into',
      connector,
      '--table',
      'persons',
    );
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/has no table persons/);
  });
});
