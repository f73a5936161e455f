// `fhir-bridge serve --storage s3://… --s3-presign …` as shipped (dist/, after `npm run build`), against an
// S3-compatible server in this process: credentials from the standard AWS variables, the banner says where
// files go, and a bulk client following the manifest downloads the files straight from the bucket.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportManifest } from '../../src/jobs/types.js';
import { REPO_ROOT, writeConnectorFile } from '../support/e2e-support.js';
import { S3RVER_CREDENTIALS, startTestBucket, type TestBucket } from './s3-test-bucket.js';

const CLI = join(REPO_ROOT, 'dist/cli/main.js');

let root: string;
let bucket: TestBucket;
let child: ChildProcess | undefined;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fhir-bridge-s3-cli-'));
  bucket = await startTestBucket();
}, 60_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await bucket?.close();
  await rm(root, { recursive: true, force: true });
});

/** Starts the server and resolves with its URL and the banner, once it says where it listens. */
function startServe(args: string[], env: NodeJS.ProcessEnv): Promise<{ base: string; banner: () => string }> {
  child = spawn(process.execPath, [CLI, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child!.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on\s+(http:\/\/\S+)/.exec(stderr);
      if (m) resolve({ base: m[1]!.replace(/\/$/, ''), banner: () => stderr });
    });
    child!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

describe.skipIf(!existsSync(CLI))('fhir-bridge serve with S3 storage (dist/, after npm run build)', () => {
  it('exports to the bucket and the manifest carries pre-signed URLs a plain client downloads', async () => {
    const connector = await writeConnectorFile(root, {
      name: 's3-cli',
      kind: 'sqlite',
      path: join(root, 'synthea.sqlite'),
      sample: 'synthea',
    });
    const { base, banner } = await startServe(
      [
        ...[
          '--open',
          '--port',
          '0',
          '--data-dir',
          join(root, 'data'),
          '-c',
          connector,
          '--min-poll-interval',
          '0',
          '--in-process',
          '--no-validate',
        ],
        ...['--storage', `s3://${bucket.bucket}/cli`, '--s3-endpoint', bucket.endpoint, '--s3-force-path-style', '--s3-presign', '120'],
      ],
      {
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        LOG_LEVEL: 'warn',
      },
    );
    expect(banner()).toContain(`files          s3://${bucket.bucket}/cli/; downloads by pre-signed URLs valid 120 s`);

    const kick = await fetch(`${base}/fhir/Patient/$export?_type=Patient,Condition`, {
      headers: { accept: 'application/fhir+json', prefer: 'respond-async' },
    });
    expect(kick.status).toBe(202);
    const statusUrl = kick.headers.get('content-location')!;
    let manifest: ExportManifest | undefined;
    while (!manifest) {
      const res = await fetch(statusUrl);
      if (res.status === 200) manifest = (await res.json()) as ExportManifest;
      else {
        expect(res.status, await res.clone().text()).toBe(202);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(manifest.requiresAccessToken).toBe(false);
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Condition', 'Patient']);
    const jobId = statusUrl.split('/').pop()!;
    for (const file of manifest.output) {
      expect(file.url.startsWith(`${bucket.endpoint}/${bucket.bucket}/cli/${jobId}/`)).toBe(true);
      const res = await fetch(file.url);
      expect(res.status).toBe(200);
      const lines = (await res.text()).split('\n').filter(Boolean);
      expect(lines).toHaveLength(file.count!);
      for (const line of lines) expect((JSON.parse(line) as { resourceType: string }).resourceType).toBe(file.type);
    }
    expect(banner(), 'the bucket check at start-up found nothing to warn about').not.toMatch(/cannot be used/);
  }, 240_000);
});
