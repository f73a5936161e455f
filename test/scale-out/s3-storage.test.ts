// Export files in an S3-compatible bucket (s3rver in this process) against the local data folder, with the
// real pipeline over the Synthea sample and SMART auth on: the same export, downloaded through the manifest
// in both URL modes (the server's own URLs with a token; pre-signed URLs with a plain fetch and no token),
// is byte for byte the local export. Expiry and cancel delete the objects; a bucket that cannot be reached
// fails the job with the bucket, the key and the reason, and the server keeps serving.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientRegistry } from '../../src/http/auth/client-registry.js';
import { buildServer, type BulkServer, type ServerOptions } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { fileNameOfUrl } from '../../src/jobs/manifest.js';
import type { ExportManifest, ManifestFile } from '../../src/jobs/types.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { S3FileStore } from '../../src/storage/s3-store.js';
import { writeConnectorFile } from '../support/e2e-support.js';
import { makeTestClient, signAssertion, tokenRequestBody, type TestClient } from '../support/test-clients.js';
import { closedEndpoint, S3RVER_CREDENTIALS, startTestBucket, type TestBucket } from './s3-test-bucket.js';

const PREFIX = 'exports/test';
const PRESIGN_SECONDS = 600;

let root: string;
let source: OpenedSource;
let bucket: TestBucket;
let client: TestClient;
const servers: BulkServer[] = [];

interface Served {
  server: BulkServer;
  base: string;
  dataDir: string;
  store?: S3FileStore;
}

async function serve(
  name: string,
  storage: 'local' | { endpoint: string; bucket?: string; presign?: boolean },
  extra: Partial<ServerOptions> = {},
): Promise<Served> {
  const dataDir = join(root, name);
  const store =
    storage === 'local'
      ? undefined
      : new S3FileStore({
          bucket: storage.bucket ?? bucket.bucket,
          prefix: `${PREFIX}/`,
          dataDir,
          endpoint: storage.endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: S3RVER_CREDENTIALS,
          maxAttempts: 2,
        });
  const server = await buildServer({
    source,
    store: new SqliteJobStore(join(root, `${name}.jobs.sqlite`)),
    dataDir,
    ...(store ? { fileStore: store } : {}),
    ...(storage !== 'local' && storage.presign ? { presignSeconds: PRESIGN_SECONDS } : {}),
    auth: { mode: 'smart', clients: new ClientRegistry([{ id: client.id, jwks: { keys: [client.publicJwk] }, scope: 'system/*.read' }]) },
    retryAfterSeconds: 1,
    minPollIntervalMs: 0,
    sweepIntervalMs: 0,
    maxResourcesPerFile: 1000,
    ...extra,
  });
  servers.push(server);
  return { server, base: await server.listen(0, '127.0.0.1'), dataDir, ...(store ? { store } : {}) };
}

async function token(base: string): Promise<string> {
  const tokenUrl = `${base}/auth/token`;
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenRequestBody(await signAssertion(client, tokenUrl), 'system/*.read'),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

interface Finished {
  jobId: string;
  statusUrl: string;
  status: number;
  body: unknown;
}

/** Kicks off a system export and polls (honouring Retry-After) until the job has an answer that stays. */
async function exportAndWait(s: Served, auth: string): Promise<Finished> {
  const kick = await fetch(`${s.base}/fhir/$export`, {
    headers: { accept: 'application/fhir+json', prefer: 'respond-async', authorization: `Bearer ${auth}` },
  });
  expect(kick.status, await kick.clone().text()).toBe(202);
  const statusUrl = kick.headers.get('content-location')!;
  const jobId = statusUrl.split('/').pop()!;
  for (;;) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${auth}` } });
    if (res.status !== 202) return { jobId, statusUrl, status: res.status, body: await res.json() };
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
  }
}

function filesOf(manifest: ExportManifest): ManifestFile[] {
  return [...manifest.output, ...manifest.error, ...(manifest.deleted ?? [])];
}

async function download(url: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(url, { headers });
  expect(res.status, `GET ${url}`).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/fhir+ndjson');
  return Buffer.from(await res.arrayBuffer());
}

let local: Served;
let localJob: Finished;
let localFiles: Map<string, Buffer>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fhir-bridge-s3-'));
  const connector = await writeConnectorFile(root, {
    name: 's3-sqlite',
    kind: 'sqlite',
    path: join(root, 'synthea.sqlite'),
    sample: 'synthea',
  });
  source = await openSource(connector);
  client = await makeTestClient('s3-test', 'ES384');
  bucket = await startTestBucket();
  // the reference: the same export in the data folder, read straight from disk
  local = await serve('local', 'local');
  localJob = await exportAndWait(local, await token(local.base));
  expect(localJob.status).toBe(200);
  const dir = join(local.dataDir, 'jobs', localJob.jobId);
  localFiles = new Map();
  for (const f of filesOf(localJob.body as ExportManifest)) {
    const name = fileNameOfUrl(f.url);
    localFiles.set(name, await readFile(join(dir, name)));
  }
}, 240_000);

afterAll(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  await bucket?.close();
  await source?.close();
  await rm(root, { recursive: true, force: true });
});

describe('export files in an S3-compatible bucket', () => {
  it('server URLs (default): downloads with a token are byte-identical to the local export; the objects are the manifest files', async () => {
    const s3 = await serve('s3-server-urls', { endpoint: bucket.endpoint });
    const auth = await token(s3.base);
    const job = await exportAndWait(s3, auth);
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    const manifest = job.body as ExportManifest;
    const reference = localJob.body as ExportManifest;
    expect(manifest.requiresAccessToken).toBe(true);
    const names = filesOf(manifest).map((f) => fileNameOfUrl(f.url));
    expect(names).toEqual(filesOf(reference).map((f) => fileNameOfUrl(f.url)));
    expect(filesOf(manifest).map((f) => [f.type, f.count])).toEqual(filesOf(reference).map((f) => [f.type, f.count]));
    expect(names.length, 'several files per type').toBeGreaterThan(new Set(filesOf(manifest).map((f) => f.type)).size);

    for (const f of filesOf(manifest)) {
      expect(f.url.startsWith(`${s3.base}/files/${job.jobId}/`)).toBe(true);
      const bytes = await download(f.url, { authorization: `Bearer ${auth}` });
      expect(bytes.equals(localFiles.get(fileNameOfUrl(f.url))!), `${fileNameOfUrl(f.url)} is the local file`).toBe(true);
    }
    const unauthorised = await fetch(manifest.output[0]!.url);
    expect(unauthorised.status, 'the server URLs still need the token').toBe(401);

    expect(await bucket.keys(`${PREFIX}/${job.jobId}/`)).toEqual(names.map((n) => `${PREFIX}/${job.jobId}/${n}`).sort());
    expect(await s3.store!.list(job.jobId)).toEqual([...names].sort());
    expect(existsSync(join(s3.dataDir, 'jobs', job.jobId)), 'the local copies are removed after the upload').toBe(false);

    // expiry deletes the objects
    const swept = await s3.server.runner.sweep(new Date(Date.now() + 2 * 3600_000));
    expect(swept).toContain(job.jobId);
    expect(await bucket.keys(`${PREFIX}/${job.jobId}/`)).toEqual([]);
    expect((await fetch(job.statusUrl, { headers: { authorization: `Bearer ${auth}` } })).status).toBe(404);
  }, 240_000);

  it('pre-signed URLs: a plain fetch without a token gets the local bytes; URLs are signed at each status request', async () => {
    const s3 = await serve('s3-presigned', { endpoint: bucket.endpoint, presign: true });
    const auth = await token(s3.base);
    const job = await exportAndWait(s3, auth);
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    const manifest = job.body as ExportManifest;
    expect(manifest.requiresAccessToken).toBe(false);
    expect(manifest.transactionTime).toBeTruthy();
    expect(filesOf(manifest).map((f) => [f.type, f.count])).toEqual(filesOf(localJob.body as ExportManifest).map((f) => [f.type, f.count]));
    for (const f of filesOf(manifest)) {
      const url = new URL(f.url);
      expect(url.origin).toBe(bucket.endpoint);
      expect(url.pathname.startsWith(`/${bucket.bucket}/${PREFIX}/${job.jobId}/`)).toBe(true);
      expect(url.searchParams.get('X-Amz-Expires')).toBe(String(PRESIGN_SECONDS));
      const bytes = await download(f.url); // no Authorization header
      expect(bytes.equals(localFiles.get(fileNameOfUrl(f.url))!), `${fileNameOfUrl(f.url)} is the local file`).toBe(true);
    }
    // a later poll gets URLs signed then (the IG lets URLs change between polls)
    const signedAt = new URL(manifest.output[0]!.url).searchParams.get('X-Amz-Date')!;
    let later: ExportManifest;
    do {
      await new Promise((r) => setTimeout(r, 500));
      later = (await (await fetch(job.statusUrl, { headers: { authorization: `Bearer ${auth}` } })).json()) as ExportManifest;
    } while (new URL(later.output[0]!.url).searchParams.get('X-Amz-Date') === signedAt);
    expect(new URL(later.output[0]!.url).searchParams.get('X-Amz-Date')! > signedAt).toBe(true);

    // the server's own URL of a file keeps working for token holders
    const name = fileNameOfUrl(manifest.output[0]!.url);
    const viaServer = await download(`${s3.base}/files/${job.jobId}/${name}`, { authorization: `Bearer ${auth}` });
    expect(viaServer.equals(localFiles.get(name)!)).toBe(true);

    // cancel (DELETE on the status URL) of a finished job deletes its objects; the pre-signed URLs stop working
    const del = await fetch(job.statusUrl, { method: 'DELETE', headers: { authorization: `Bearer ${auth}` } });
    expect(del.status).toBe(202);
    expect(await bucket.keys(`${PREFIX}/${job.jobId}/`)).toEqual([]);
    expect((await fetch(manifest.output[0]!.url)).status).toBe(404);
  }, 240_000);

  it('gzip-stored files: the stored object is the gzip file; server URLs inflate it for clients without gzip, pre-signed URLs say Content-Encoding: gzip', async () => {
    const s3 = await serve('s3-gzip', { endpoint: bucket.endpoint, presign: true }, { gzipFiles: true });
    const auth = await token(s3.base);
    const job = await exportAndWait(s3, auth);
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    const manifest = job.body as ExportManifest;
    for (const f of filesOf(manifest)) {
      const name = fileNameOfUrl(f.url);
      expect(name.endsWith('.ndjson.gz')).toBe(true);
      const plain = localFiles.get(name.slice(0, -'.gz'.length))!;
      // fetch inflates Content-Encoding: gzip, as every HTTP client does
      expect((await download(f.url)).equals(plain), `${name} pre-signed`).toBe(true);
      const again = await fetch(f.url);
      expect(again.headers.get('content-encoding'), `${name} pre-signed`).toBe('gzip');
      await again.arrayBuffer();
      const viaServer = await download(`${s3.base}/files/${job.jobId}/${name}`, {
        authorization: `Bearer ${auth}`,
        'accept-encoding': 'identity',
      });
      expect(viaServer.equals(plain), `${name} through the server`).toBe(true);
      const raw = await s3.store!.open(job.jobId, name);
      const chunks: Buffer[] = [];
      for await (const c of raw!) chunks.push(c as Buffer);
      expect(gunzipSync(Buffer.concat(chunks)).equals(plain), `${name} is stored gzipped`).toBe(true);
    }
  }, 240_000);

  it('a bucket that cannot be reached fails the job with the bucket, the key and the reason; the server keeps serving', async () => {
    const s3 = await serve('s3-unreachable', { endpoint: await closedEndpoint() });
    const auth = await token(s3.base);
    const job = await exportAndWait(s3, auth);
    expect(job.status).toBe(500);
    const outcome = job.body as { resourceType: string; issue: Array<{ diagnostics: string }> };
    expect(outcome.resourceType).toBe('OperationOutcome');
    const diagnostics = outcome.issue[0]!.diagnostics;
    expect(diagnostics).toMatch(new RegExp(`s3://${bucket.bucket}/${PREFIX}/${job.jobId}/[A-Za-z]+\\.\\d{6}\\.ndjson`));
    expect(diagnostics).toMatch(/ECONNREFUSED/);
    // nothing left behind locally; the server answers
    expect(await readdir(join(s3.dataDir, 'jobs')).catch(() => [])).toEqual([]);
    expect((await fetch(`${s3.base}/fhir/metadata`)).status).toBe(200);
    const again = await fetch(`${s3.base}/fhir/$export?_type=Patient`, {
      headers: { accept: 'application/fhir+json', prefer: 'respond-async', authorization: `Bearer ${auth}` },
    });
    expect(again.status, 'the client may kick off again').toBe(202);
  }, 240_000);

  it('a bucket that goes away after the export: a download is a 503 OperationOutcome, status and other requests still answer', async () => {
    const doomed = await startTestBucket('doomed-bucket');
    let closed = false;
    try {
      const s3 = await serve('s3-gone', { endpoint: doomed.endpoint, bucket: doomed.bucket });
      const auth = await token(s3.base);
      const job = await exportAndWait(s3, auth);
      expect(job.status, JSON.stringify(job.body)).toBe(200);
      const url = (job.body as ExportManifest).output[0]!.url;
      await doomed.close();
      closed = true;
      const res = await fetch(url, { headers: { authorization: `Bearer ${auth}` } });
      expect(res.status).toBe(503);
      const outcome = (await res.json()) as { resourceType: string; issue: Array<{ code: string; diagnostics: string }> };
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0]).toMatchObject({ code: 'transient' });
      expect(outcome.issue[0]!.diagnostics).toContain('s3://doomed-bucket/exports/test/ could not be reached');
      expect(res.headers.get('retry-after')).toBeTruthy();
      expect((await fetch(job.statusUrl, { headers: { authorization: `Bearer ${auth}` } })).status).toBe(200);
      expect((await fetch(`${s3.base}/fhir/metadata`)).status).toBe(200);
      // expiry cannot delete now: the job stays due for the next sweep instead of being marked expired
      expect(await s3.server.runner.sweep(new Date(Date.now() + 2 * 3600_000))).toEqual([]);
    } finally {
      if (!closed) await doomed.close();
    }
  }, 240_000);

  it('a bucket that does not exist fails the job naming it and the reason', async () => {
    const s3 = await serve('s3-no-bucket', { endpoint: bucket.endpoint, bucket: 'no-such-bucket' });
    const job = await exportAndWait(s3, await token(s3.base));
    expect(job.status).toBe(500);
    const diagnostics = (job.body as { issue: Array<{ diagnostics: string }> }).issue[0]!.diagnostics;
    expect(diagnostics).toContain(`s3://no-such-bucket/${PREFIX}/${job.jobId}/`);
    expect(diagnostics).toMatch(/NoSuchBucket/);
    await expect(s3.store!.check()).rejects.toThrow(/no-such-bucket.*does not exist/);
    expect((await fetch(`${s3.base}/fhir/metadata`)).status).toBe(200);
  }, 240_000);
});
