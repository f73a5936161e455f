// The built CLI on a source exported in parts (the shipped Synthea CSV folder): with several threads the
// coordinating thread maps parts beside the pool's threads, and the files are, byte for byte, those one
// thread writes. Needs the compiled worker (`npm run build`; CI builds it in `npm ci`).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../test/support/e2e-support.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const built = existsSync(join(REPO_ROOT, 'dist', 'pipeline', 'part-worker.js'));
if (!built) console.warn('export-threads.test: no dist/ build (npm run build): skipped');

const run = promisify(execFile);
const dirs: string[] = [];

async function exportWith(workers: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `fhir-bridge-threads-${workers}-`));
  dirs.push(dir);
  await run(
    process.execPath,
    [CLI, 'export', '--connector', join(REPO_ROOT, 'connectors', 'synthea-csv.yaml'), '--out', dir, '--workers', String(workers)],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return dir;
}

async function files(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as const)));
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe.skipIf(!built)('fhir-bridge export --workers', () => {
  it('writes the same files with this thread and two pool threads as with this thread alone', { timeout: 240_000 }, async () => {
    const one = await exportWith(0);
    const three = await exportWith(3);
    const a = await files(one);
    const b = await files(three);
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect(a.size).toBeGreaterThan(10);
    for (const [name, bytes] of a) expect(b.get(name)!.equals(bytes), name).toBe(true);
    const summary = JSON.parse(await readFile(join(three, 'summary.json'), 'utf8')) as { counts: Record<string, number> };
    expect(summary.counts.Patient).toBe(11);
  });
});
