// The S3 file store against an S3-compatible server (s3rver in this process): a file larger than a part
// goes up as a multipart upload and comes back byte for byte; a job's objects are listed and deleted by its
// prefix only, past the 1000 keys of one list page or one DeleteObjects request; aborting stops the upload.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3FileStore } from '../../src/storage/s3-store.js';
import { S3RVER_CREDENTIALS, startTestBucket, type TestBucket } from './s3-test-bucket.js';

let root: string;
let bucket: TestBucket;
let store: S3FileStore;
/** the S3 operations the store sent, in order (seen by a middleware on its client) */
const sent: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fhir-bridge-s3-store-'));
  bucket = await startTestBucket('store-test');
  store = new S3FileStore({
    bucket: bucket.bucket,
    prefix: 'p/',
    dataDir: root,
    endpoint: bucket.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    partSize: 5 * 1024 * 1024,
    filesInFlight: 8,
  });
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize' },
  );
}, 60_000);

afterAll(async () => {
  store?.close();
  await bucket?.close();
  await rm(root, { recursive: true, force: true });
});

async function stage(jobId: string, files: Record<string, Buffer | string>): Promise<void> {
  await mkdir(store.jobDir(jobId), { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(store.jobDir(jobId), name), content);
}

async function read(jobId: string, name: string): Promise<Buffer | undefined> {
  const stream = await store.open(jobId, name);
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('S3FileStore', () => {
  it('uploads a file larger than a part in parts, and small ones whole; the bytes come back; local copies go', async () => {
    const big = randomBytes(12 * 1024 * 1024 + 17); // three parts of 5 MiB at most
    await stage('job-a', { 'Observation.000001.ndjson': big, 'Patient.000001.ndjson': '{"resourceType":"Patient"}\n' });
    sent.length = 0;
    await store.publish('job-a', ['Observation.000001.ndjson', 'Patient.000001.ndjson']);
    expect(existsSync(store.jobDir('job-a'))).toBe(false);
    expect(await store.list('job-a')).toEqual(['Observation.000001.ndjson', 'Patient.000001.ndjson']);
    expect((await read('job-a', 'Observation.000001.ndjson'))!.equals(big)).toBe(true);
    expect((await read('job-a', 'Patient.000001.ndjson'))!.toString()).toBe('{"resourceType":"Patient"}\n');
    expect(sent.filter((c) => c === 'UploadPartCommand')).toHaveLength(3);
    expect(sent.filter((c) => c === 'CreateMultipartUploadCommand' || c === 'CompleteMultipartUploadCommand')).toHaveLength(2);
    expect(
      sent.filter((c) => c === 'PutObjectCommand'),
      'the small file goes up whole',
    ).toHaveLength(1);
    const head = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: 'p/job-a/Observation.000001.ndjson' }));
    expect(head.ContentType).toBe('application/fhir+ndjson');
    expect(head.ContentLength).toBe(big.length);
    expect(await read('job-a', 'Missing.000001.ndjson')).toBeUndefined();
  }, 120_000);

  it("deletes one job's objects only (job-b, not job-bc), past one list page and one DeleteObjects request", async () => {
    const many: Record<string, string> = {};
    for (let i = 1; i <= 1003; i++) many[`Observation.${String(i).padStart(6, '0')}.ndjson`] = `{"n":${i}}\n`;
    await stage('job-b', many);
    await store.publish('job-b', Object.keys(many));
    await stage('job-bc', { 'Patient.000001.ndjson': '{}\n' });
    await store.publish('job-bc', ['Patient.000001.ndjson']);
    expect(await store.list('job-b')).toHaveLength(1003);

    sent.length = 0;
    await store.remove('job-b');
    expect(
      sent.filter((c) => c === 'ListObjectsCommand'),
      'two pages listed',
    ).toHaveLength(2);
    expect(
      sent.filter((c) => c === 'DeleteObjectsCommand'),
      'two delete requests',
    ).toHaveLength(2);
    expect(await bucket.keys('p/job-b/')).toEqual([]);
    expect(await bucket.keys('p/job-bc/')).toEqual(['p/job-bc/Patient.000001.ndjson']);
    expect(await store.list('job-b')).toEqual([]);
  }, 240_000);

  it('an aborted publish stops, leaves no objects and says it was aborted', async () => {
    const big = randomBytes(11 * 1024 * 1024);
    await stage('job-c', { 'Observation.000001.ndjson': big, 'Observation.000002.ndjson': big });
    const controller = new AbortController();
    const publishing = store.publish('job-c', ['Observation.000001.ndjson', 'Observation.000002.ndjson'], controller.signal);
    controller.abort(new Error('export cancelled by the client'));
    await expect(publishing).rejects.toThrow(/cancelled/);
    expect(await bucket.keys('p/job-c/')).toEqual([]);
  }, 120_000);
});
