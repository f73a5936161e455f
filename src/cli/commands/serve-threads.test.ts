// The built server on a source exported in parts (the shipped Synthea CSV folder): with --workers 2 its own
// thread maps parts between requests beside one pool thread, and a whole export holds, type by type, the
// bytes `fhir-bridge export` writes on one thread. Needs the compiled worker (`npm run build`).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../test/support/e2e-support.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const CONNECTOR = join(REPO_ROOT, 'connectors', 'synthea-csv.yaml');
const built = existsSync(join(REPO_ROOT, 'dist', 'pipeline', 'part-worker.js'));
if (!built) console.warn('serve-threads.test: no dist/ build (npm run build): skipped');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `fhir-bridge-${name}-`));
  dirs.push(dir);
  return dir;
}

/** The server's banner (stderr) up to its URL. */
function banner(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (/listening on\s+http:\/\/\S+[\s\S]*instance/.test(text)) {
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve(text);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited (${String(code)}) before listening: ${text}`)));
  });
}

describe.skipIf(!built)('fhir-bridge serve --workers', () => {
  it('runs parts on its own thread and a pool thread, exporting what one thread exports', { timeout: 240_000 }, async () => {
    const alone = await tempDir('serve-cli');
    await promisify(execFile)(process.execPath, [CLI, 'export', '--connector', CONNECTOR, '--out', alone, '--workers', '0'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const expected = new Map<string, string>();
    for (const name of (await readdir(alone)).filter((n) => n.endsWith('.ndjson')).sort()) {
      const type = name.split('.')[0]!;
      expected.set(type, (expected.get(type) ?? '') + (await readFile(join(alone, name), 'utf8')));
    }

    const data = await tempDir('serve-data');
    const args = [CLI, 'serve', '--open', '--port', '0', '--data-dir', data, '--min-poll-interval', '0', '--connector', CONNECTOR];
    const child = spawn(process.execPath, [...args, '--workers', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const text = await banner(child);
      expect(text).toMatch(/exports run as parts on this thread and 1 worker thread/);
      const base = /listening on\s+(http:\/\/\S+)/.exec(text)![1]!;
      const kick = await fetch(`${base}/fhir/$export`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async' } });
      expect(kick.status).toBe(202);
      let manifest: { output: Array<{ type: string; url: string }>; error: Array<{ type: string; url: string }> } | undefined;
      while (!manifest) {
        const r = await fetch(kick.headers.get('content-location')!, { headers: { accept: 'application/json' } });
        if (r.status === 200) manifest = (await r.json()) as typeof manifest;
        else {
          expect(r.status).toBe(202);
          await r.arrayBuffer();
          await new Promise((res) => setTimeout(res, 20));
        }
      }
      const got = new Map<string, string>();
      // the CLI's OperationOutcome file is the manifest's `error` list
      for (const file of [...manifest!.output, ...manifest!.error])
        got.set(file.type, (got.get(file.type) ?? '') + (await (await fetch(file.url)).text()));
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      expect(expected.size).toBeGreaterThan(10);
      for (const [type, text] of expected) expect(got.get(type) === text, type).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await new Promise((res) => child.once('exit', res));
    }
  });

  it('answers status polls while its own thread maps the parts (--workers 1)', { timeout: 120_000 }, async () => {
    const data = await tempDir('serve-one');
    const args = [CLI, 'serve', '--open', '--port', '0', '--data-dir', data, '--min-poll-interval', '0', '--connector', CONNECTOR];
    const child = spawn(process.execPath, [...args, '--workers', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const text = await banner(child);
      expect(text).toMatch(/exports run as parts on this thread\s/);
      const base = /listening on\s+(http:\/\/\S+)/.exec(text)![1]!;
      const kick = await fetch(`${base}/fhir/$export`, { headers: { accept: 'application/fhir+json', prefer: 'respond-async' } });
      expect(kick.status).toBe(202);
      // one poll after another: a thread that kept the event loop for the whole export would answer the first
      // poll only when it is done
      let inProgress = 0;
      for (;;) {
        const r = await fetch(kick.headers.get('content-location')!, { headers: { accept: 'application/json' } });
        await r.arrayBuffer();
        if (r.status === 200) break;
        expect(r.status).toBe(202);
        inProgress++;
      }
      expect(inProgress).toBeGreaterThanOrEqual(5);
    } finally {
      child.kill('SIGTERM');
      await new Promise((res) => child.once('exit', res));
    }
  });
});
