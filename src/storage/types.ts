// The boundary between export jobs and where their finished files are kept. Every store stages a running
// job's files on local disk (the sinks and the part assembly write plain files); what differs is what
// happens once the job is done: the local store leaves them where they are (<dataDir>/jobs/<id>/, the
// behaviour before stores existed), the S3 store uploads them to a bucket and removes the local copies.
// Downloads (src/http/files.ts), expiry and cancel (src/jobs/runner.ts) go through the same interface, so
// neither knows which store it talks to.
import type { Readable } from 'node:stream';

export interface ExportFileStore {
  /** what the store is, for logs and the serve banner: a folder or s3://bucket/prefix/ */
  readonly description: string;
  /** The local folder a job's files are written to while it runs. */
  jobDir(jobId: string): string;
  /**
   * Makes a finished job's files (names inside jobDir) downloadable. The S3 store uploads them and removes
   * the local folder; a failure throws a FhirBridgeError naming the bucket, the key and the reason (the job
   * then fails with it) after removing whatever it had uploaded.
   */
  publish(jobId: string, fileNames: string[], signal?: AbortSignal): Promise<void>;
  /** A download of one published file, or undefined when it is not (or no longer) there. */
  open(jobId: string, fileName: string): Promise<Readable | undefined>;
  /** The names of a job's published files (sorted). */
  list(jobId: string): Promise<string[]>;
  /** Deletes everything of a job: its local folder and whatever was published. */
  remove(jobId: string): Promise<void>;
  /** A URL anyone may GET the file from for `seconds` (stores that can sign one: S3). */
  presign?(jobId: string, fileName: string, seconds: number): Promise<string>;
}

/** Content-Type of every export file (gzipped ones carry Content-Encoding: gzip besides). */
export const NDJSON_CONTENT_TYPE = 'application/fhir+ndjson';
