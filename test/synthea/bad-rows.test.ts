// One broken row must never abort an export or lose the good rows: it ends up in the error file as an
// OperationOutcome that says what is wrong and where (mapping file:line:col, column, value, row key).
// Runs the real CSV adapter and the shipped Synthea mappings over a copy of the sample with two rows spoiled.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportConfig, type CollectedExport } from './collect-export.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLE = path.join(ROOT, 'samples/synthea-11pt/csv');

/** Replace field `column` of data row `index` (0-based, header excluded) in a simple CSV text. */
function spoil(csv: string, index: number, column: string, value: string): { text: string; key: string } {
  const lines = csv.split('\n');
  const header = lines[0]!.split(',');
  const col = header.indexOf(column);
  const fields = lines[index + 1]!.split(',');
  fields[col] = value;
  lines[index + 1] = fields.join(',');
  return { text: lines.join('\n'), key: fields[0]! };
}

let dir: string;
let spoiled: CollectedExport;
let clean: CollectedExport;
let badPatient: string;
let badEncounter: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fhir-bridge-bad-rows-'));
  await cp(SAMPLE, dir, { recursive: true });
  const patients = spoil(await readFile(path.join(SAMPLE, 'patients.csv'), 'utf8'), 2, 'BIRTHDATE', '1990-13-45');
  badPatient = patients.key;
  await writeFile(path.join(dir, 'patients.csv'), patients.text);
  const encounters = spoil(await readFile(path.join(SAMPLE, 'encounters.csv'), 'utf8'), 4, 'ENCOUNTERCLASS', 'teleportation');
  badEncounter = encounters.key;
  await writeFile(path.join(dir, 'encounters.csv'), encounters.text);

  const config = (folder: string) => ({
    file: path.join(folder, 'connector.yaml'),
    name: 'spoiled-sample',
    kind: 'csv' as const,
    path: folder,
    timezone: 'UTC',
    mappings: [path.join(ROOT, 'mappings/synthea')],
  });
  spoiled = await exportConfig(config(dir));
  clean = await exportConfig(config(SAMPLE));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const count = (e: CollectedExport, type: string) => e.resources.filter((r) => r.resourceType === type).length;
const errorsOf = (e: CollectedExport) => e.errors.flatMap((o) => o.issue).filter((i) => i.severity === 'error' || i.severity === 'fatal');

describe('a row with a bad date or an unmapped code', () => {
  it('drops only the resource that row would have become', () => {
    expect(count(spoiled, 'Patient')).toBe(count(clean, 'Patient') - 1);
    expect(count(spoiled, 'Encounter')).toBe(count(clean, 'Encounter') - 1);
    expect(spoiled.resources.some((r) => r.resourceType === 'Patient' && r.id === badPatient)).toBe(false);
    expect(spoiled.resources.some((r) => r.resourceType === 'Encounter' && r.id === badEncounter)).toBe(false);
  });

  it('keeps every other resource exactly as a clean export makes it', () => {
    const bad = new Set([`Patient/${badPatient}`, `Encounter/${badEncounter}`]);
    const ids = (e: CollectedExport) => new Set(e.resources.map((r) => `${r.resourceType}/${r.id}`));
    const spoiledIds = ids(spoiled);
    const lost = [...ids(clean)].filter((id) => !spoiledIds.has(id) && !bad.has(id));
    expect(lost).toEqual([]);
  });

  it('reports the bad date with the mapping location, column, value and row key', () => {
    const issue = errorsOf(spoiled).find((i) => i.diagnostics?.includes('1990-13-45'));
    expect(issue, JSON.stringify(errorsOf(spoiled), null, 1)).toBeDefined();
    expect(issue!.code).toBe('value');
    expect(issue!.diagnostics).toMatch(/mappings\/synthea\/patient\.yaml:\d+:\d+/);
    expect(issue!.diagnostics!.toLowerCase()).toContain('birthdate');
    expect(issue!.diagnostics).toContain(badPatient);
  });

  it('reports the unmapped code as code-invalid with its location', () => {
    const issue = errorsOf(spoiled).find((i) => i.diagnostics?.includes('teleportation'));
    expect(issue, JSON.stringify(errorsOf(spoiled), null, 1)).toBeDefined();
    expect(issue!.code).toBe('code-invalid');
    expect(issue!.diagnostics).toMatch(/mappings\/synthea\/encounter\.yaml:\d+:\d+/);
    expect(issue!.diagnostics).toContain(badEncounter);
  });

  it('counts the rejected rows in the summary', () => {
    expect(spoiled.summary.rejected.total - clean.summary.rejected.total).toBeGreaterThanOrEqual(2);
  });
});
