// `fhir-bridge export --connector connectors/cms-ccw-rif.yaml --out <dir>` as the CLI runs it: NDJSON files
// on disk with 8 EOBs and the beneficiary's Coverages, amounts written as the source text says.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/commands/export.js';
import { memoryIo } from '../../src/cli/io.js';
import { ROOT, readRif } from './export-helper.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function ndjson(dir: string, type: string): Promise<Array<Record<string, any>>> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${type}.`) && f.endsWith('.ndjson'));
  const lines = (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')))).join('').split('\n');
  return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

it('writes 8 ExplanationOfBenefit and 4 Coverage resources, money as in the RIF text', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'rif-cli-'));
  dirs.push(out);
  const io = memoryIo();
  const code = await exportCommand({ connector: path.join(ROOT, 'connectors/cms-ccw-rif.yaml'), out }, io);
  expect(code, io.text()).toBe(0);
  const eobs = await ndjson(out, 'ExplanationOfBenefit');
  expect(eobs.map((e) => e.id.split('-')[0]).sort()).toEqual(['carrier', 'dme', 'hha', 'hospice', 'inpatient', 'outpatient', 'pde', 'snf']);
  expect((await ndjson(out, 'Coverage')).map((c) => c.id).sort()).toEqual([
    'part-a-567834',
    'part-b-567834',
    'part-c-567834',
    'part-d-567834',
  ]);
  // The paid amount of each claim, as the text of the file says it, read back from the NDJSON.
  for (const [type, file] of [
    ['inpatient', 'sample-a-inpatient.txt'],
    ['carrier', 'sample-a-bcarrier.txt'],
    ['snf', 'sample-a-snf.txt'],
  ] as const) {
    const [row] = await readRif(path.join(ROOT, 'samples/cms-ccw-rif', file));
    const eob = eobs.find((e) => e.id === `${type}-${row!.CLM_ID}`)!;
    expect(eob.payment.amount.value).toBe(Number(row!.CLM_PMT_AMT));
  }
}, 60_000);
