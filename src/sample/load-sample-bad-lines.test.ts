// A malformed line in the CSV files the sample loader reads is skipped and reported (file, line, reason),
// not the end of the load: every other row is loaded.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CsvLineIssue } from '../connectors/csv-files.js';
import { loadSample, sampleFolder } from './load-sample.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fhir-bridge-load-bad-'));
  await cp(sampleFolder(), path.join(dir, 'csv'), { recursive: true });
  const file = path.join(dir, 'csv', 'procedures.csv');
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines[41] = lines[41]!.split(',').slice(0, 3).join(','); // line 42: too few fields
  await writeFile(file, lines.join('\n'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('skips and reports the bad line, loads every other row', async () => {
  const issues: CsvLineIssue[] = [];
  const config = (name: string) => ({
    file: path.join(dir, `${name}.yaml`),
    name,
    kind: 'sqlite' as const,
    path: path.join(dir, `${name}.sqlite`),
    timezone: 'UTC',
    mappings: [],
  });
  const spoiled = await loadSample(config('spoiled'), { folder: path.join(dir, 'csv'), onBadRow: (i) => issues.push(i) });
  const clean = await loadSample(config('clean'));
  expect(issues).toMatchObject([{ table: 'procedures', line: 42, severity: 'error', file: path.join(dir, 'csv', 'procedures.csv') }]);
  expect(issues[0]!.message).toMatch(/wrong number of fields/);
  expect(spoiled.badRows).toEqual(issues);
  expect(clean.badRows).toEqual([]);
  expect(spoiled.tables.procedures).toBe(clean.tables.procedures! - 1);
  const db = new Database(path.join(dir, 'spoiled.sqlite'), { readonly: true });
  try {
    expect((db.prepare('select count(*) as n from procedures').get() as { n: number }).n).toBe(spoiled.tables.procedures);
  } finally {
    db.close();
  }
}, 120_000);
