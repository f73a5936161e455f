// An S3-compatible server in this process (s3rver, files in a temp folder) standing in for a bucket, and a
// port nothing listens on, for a bucket that cannot be reached.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// s3rver accepts these (and checks request signatures against them, pre-signed URLs included)
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestBucket {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** every key in the bucket under `prefix` */
  keys(prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startTestBucket(bucket = 'fhir-exports'): Promise<TestBucket> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
  const { port } = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    async keys(prefix = '') {
      const keys: string[] = [];
      // v1 pages (after the last key): s3rver cannot make ListObjectsV2 continuation tokens on Node's OpenSSL 3
      for (let marker: string | undefined; ; ) {
        const page = await client.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, ...(marker ? { Marker: marker } : {}) }));
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        if (!page.IsTruncated || keys.at(-1) === marker) break;
        marker = keys.at(-1);
      }
      return keys.sort();
    },
    async close() {
      client.destroy();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A local URL whose port was free a moment ago and is closed now: connections to it are refused. */
export async function closedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
