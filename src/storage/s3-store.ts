// Export files in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...). A job writes its files on local disk
// as always; when it completes, publish() streams each file to s3://bucket/prefix/<job id>/<file> with
// lib-storage's Upload (multipart for files above one part, parts read from the file as they go, a bounded
// number of parts and files in flight) and removes the local copies. Each request is retried by the SDK on
// transient errors (throttling, 5xx, dropped connections: `maxAttempts`); a file that still cannot be
// uploaded fails the job with the bucket, the key and the reason, never the server. Downloads are
// GetObject streams or pre-signed GET URLs; deleting a job lists its prefix and deletes what is listed.
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import PQueue from 'p-queue';
import { FhirBridgeError } from '../errors.js';
import { LocalFileStore } from './local-store.js';
import { describeLocation, fileNameOfKey, jobPrefix, objectKey, type S3Location } from './s3-location.js';
import { type ExportFileStore, NDJSON_CONTENT_TYPE } from './types.js';

/** SigV4 pre-signed URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

export interface S3StoreOptions extends S3Location {
  /** where jobs stage their files before the upload (the server's data folder) */
  dataDir: string;
  /** an S3-compatible server's URL (default: AWS, or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) */
  endpoint?: string;
  /** default: the AWS chain (AWS_REGION, ~/.aws/config); us-east-1 with a custom endpoint and no region */
  region?: string;
  /** bucket in the path (http://host/bucket/key) instead of the host name: most S3-compatible servers want it */
  forcePathStyle?: boolean;
  /** default: the standard AWS credential chain (environment, shared files, SSO, container/instance roles) */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** attempts per S3 request, the first included (SDK standard retry mode; default 5) */
  maxAttempts?: number;
  /** multipart part size in bytes (default 8 MiB; S3's minimum is 5 MiB) */
  partSize?: number;
  /** parts of one file uploading at once (default 4) */
  partsInFlight?: number;
  /** files uploading at once (default 2); memory held by uploads ≈ files × parts × partSize */
  filesInFlight?: number;
}

export class S3FileStore implements ExportFileStore {
  readonly description: string;
  readonly client: S3Client;
  private readonly location: S3Location;
  private readonly staging: LocalFileStore;

  constructor(private readonly options: S3StoreOptions) {
    this.location = { bucket: options.bucket, prefix: options.prefix };
    this.description = describeLocation(this.location);
    this.staging = new LocalFileStore(options.dataDir);
    const config: S3ClientConfig = {
      maxAttempts: options.maxAttempts ?? 5,
      retryMode: 'standard',
      // a bucket that does not answer must fail a job in seconds, not hang it (the SDK waits forever by default)
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.region ? { region: options.region } : options.endpoint && !hasRegionInEnv() ? { region: 'us-east-1' } : {}),
      ...(options.forcePathStyle ? { forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    };
    this.client = new S3Client(config);
  }

  jobDir(jobId: string): string {
    return this.staging.jobDir(jobId);
  }

  /** Whether the bucket answers (serve checks it at start and warns; jobs fail clearly anyway). */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
    } catch (err) {
      // HeadBucket answers have no body: say what its status means
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const reason =
        status === 404
          ? 'the bucket does not exist (HTTP 404)'
          : status === 403 || status === 401
            ? `access denied: check the credentials and the bucket's policy (HTTP ${status})`
            : s3Reason(err);
      throw new FhirBridgeError(`the export bucket ${this.description} cannot be used: ${reason}`, {
        issueCode: 'transient',
        status: 503,
        cause: err,
      });
    }
  }

  async publish(jobId: string, fileNames: string[], signal?: AbortSignal): Promise<void> {
    const queue = new PQueue({ concurrency: this.options.filesInFlight ?? 2 });
    const uploads = new Set<Upload>();
    const stop = (): void => {
      for (const u of uploads) void u.abort().catch(() => undefined);
    };
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await Promise.all(
        fileNames.map((name) =>
          queue.add(async () => {
            signal?.throwIfAborted();
            const key = objectKey(this.location, jobId, name);
            const upload = new Upload({
              client: this.client,
              params: {
                Bucket: this.location.bucket,
                Key: key,
                Body: createReadStream(join(this.jobDir(jobId), name)),
                ContentType: NDJSON_CONTENT_TYPE,
                // a pre-signed download then arrives as NDJSON to any HTTP client, as the server's own URLs do
                ...(name.endsWith('.gz') ? { ContentEncoding: 'gzip' } : {}),
              },
              partSize: this.options.partSize ?? 8 * 1024 * 1024,
              queueSize: this.options.partsInFlight ?? 4,
              leavePartsOnError: false, // a failed multipart upload is aborted: no orphaned parts billed
            });
            uploads.add(upload);
            try {
              await upload.done();
            } catch (err) {
              signal?.throwIfAborted();
              throw new FhirBridgeError(
                `the export files could not be stored: uploading s3://${this.location.bucket}/${key} failed: ${s3Reason(err)}`,
                { issueCode: 'exception', cause: err },
              );
            } finally {
              uploads.delete(upload);
            }
          }),
        ),
      );
    } catch (err) {
      queue.clear();
      stop();
      await queue.onIdle().catch(() => undefined);
      await this.remove(jobId).catch(() => undefined); // the job fails: what did arrive is of no use
      throw err;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    await this.staging.remove(jobId);
  }

  async open(jobId: string, fileName: string): Promise<Readable | undefined> {
    try {
      const got = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: objectKey(this.location, jobId, fileName) }),
      );
      return got.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable(this.description, err);
    }
  }

  async presign(jobId: string, fileName: string, seconds: number): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.location.bucket, Key: objectKey(this.location, jobId, fileName) });
    try {
      return await getSignedUrl(this.client, command, { expiresIn: Math.min(seconds, MAX_PRESIGN_SECONDS) });
    } catch (err) {
      // signing is local, but resolving the credentials may not be (a role's, an SSO session's)
      throw new FhirBridgeError(`download URLs for ${this.description} could not be signed: ${s3Reason(err)}`, {
        issueCode: 'transient',
        status: 503,
        cause: err,
      });
    }
  }

  async list(jobId: string): Promise<string[]> {
    const names: string[] = [];
    for (const key of await this.keys(jobId)) {
      const name = fileNameOfKey(this.location, jobId, key);
      if (name) names.push(name);
    }
    return names.sort();
  }

  async remove(jobId: string): Promise<void> {
    await this.staging.remove(jobId);
    const keys = await this.keys(jobId);
    // DeleteObjects takes at most 1000 keys per request
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let result: DeleteObjectsCommandOutput;
      try {
        result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.location.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
        );
      } catch (err) {
        throw unavailable(this.description, err);
      }
      const failed = result.Errors ?? [];
      if (failed.length > 0)
        throw new FhirBridgeError(
          `deleting export files from ${this.description} failed for ${failed.length} object(s), e.g. ${failed[0]?.Key}: ${failed[0]?.Message}`,
          { issueCode: 'exception' },
        );
    }
  }

  close(): void {
    this.client.destroy();
  }

  /**
   * Every key under the job's prefix, in pages of up to 1000. ListObjects (v1) rather than V2: every
   * S3-compatible server has it, and the next page starts after the last key seen instead of at a token
   * the server makes (s3rver, for one, cannot make V2 tokens under Node's OpenSSL 3).
   */
  private async keys(jobId: string): Promise<string[]> {
    const keys: string[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListObjectsCommand({
            Bucket: this.location.bucket,
            Prefix: jobPrefix(this.location, jobId),
            ...(marker ? { Marker: marker } : {}),
          }),
        );
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        const last = keys.at(-1);
        if (!page.IsTruncated || !last || last === marker) break;
        marker = last;
      }
    } catch (err) {
      throw unavailable(this.description, err);
    }
    return keys;
  }
}

function hasRegionInEnv(): boolean {
  return Boolean(process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION);
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function unavailable(where: string, err: unknown): FhirBridgeError {
  return new FhirBridgeError(`the export file store ${where} could not be reached: ${s3Reason(err)}`, {
    issueCode: 'transient',
    status: 503,
    cause: err,
  });
}

/** What went wrong, in words: the S3 error code and message, or the network error underneath. */
export function s3Reason(err: unknown): string {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    errors?: Array<{ code?: string; message?: string }>;
    $metadata?: { httpStatusCode?: number; attempts?: number };
  };
  if (!e || typeof e !== 'object') return String(err);
  const inner = e.errors?.[0]; // AggregateError of a connection refused on every address
  const code = e.code ?? inner?.code ?? e.name;
  const message = e.message || inner?.message || '';
  const status = e.$metadata?.httpStatusCode ? `HTTP ${e.$metadata.httpStatusCode}` : '';
  const attempts = e.$metadata?.attempts && e.$metadata.attempts > 1 ? `after ${e.$metadata.attempts} attempts` : '';
  return [
    code && !message.includes(code) ? `${code}:` : '',
    message,
    status || attempts ? `(${[status, attempts].filter(Boolean).join(', ')})` : '',
  ]
    .filter(Boolean)
    .join(' ');
}
