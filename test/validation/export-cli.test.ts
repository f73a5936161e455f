// `fhir-bridge export` validates by default and says so in summary.json; `--no-validate` turns it off.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { SummaryFile } from '../../src/cli/commands/export.js';
import { runCli } from '../support/run-cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RIF = path.join(ROOT, 'connectors/cms-ccw-rif.yaml');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function exportTo(...flags: string[]): Promise<{ summary: SummaryFile; out: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'valexport-cli-'));
  dirs.push(dir);
  const { code, out, err } = await runCli('export', '-c', RIF, '-o', dir, ...flags);
  expect(code, `${out}\n${err}`).toBe(0);
  return { summary: JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as SummaryFile, out };
}

it('validates every resource by default and reports it in summary.json and on stdout', async () => {
  const { summary, out } = await exportTo();
  const written = Object.values(summary.counts).reduce((a, b) => a + b, 0);
  expect(summary.validation).toBeDefined();
  expect(summary.validation!.resources).toBe(written + summary.validation!.rejected);
  expect(summary.validation!.mustSupport['eob-pde']).toHaveProperty(
    ['http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Pharmacy', 'resources'],
    1,
  );
  expect(out).toMatch(new RegExp(`validation: ${summary.validation!.resources} resources checked against their profiles`));
}, 120_000);

it('--no-validate writes the same resources without a validation summary', async () => {
  const validated = await exportTo();
  const { summary, out } = await exportTo('--no-validate');
  expect(summary.validation).toBeUndefined();
  expect(out).not.toMatch(/validation:/);
  // the shipped RIF mappings make no invalid resource, so both exports hold the same ones
  expect(summary.counts).toEqual(validated.summary.counts);
}, 120_000);
