// Where a job's files live in a bucket: s3://bucket/prefix/ + <job id>/ + <file name>. One folder per job
// so that deleting a job is "list by the job's prefix, delete what is listed", and the trailing slash keeps
// job "ab" from listing job "abc"'s files.
import { FhirBridgeError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** '' or a key prefix ending with '/' */
  prefix: string;
}

// S3 bucket naming rules (virtual-host and path style alike): 3-63 of a-z 0-9 . -, starting and ending
// with a letter or digit.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket` or `s3://bucket/some/prefix[/]` → bucket and a normalised prefix ('' or ending in '/'). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url.trim());
  if (!m) throw settingError(`storage must be s3://bucket[/prefix], got "${url}"`);
  const bucket = m[1] ?? '';
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw settingError(
      `"${bucket}" is not a valid S3 bucket name (3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit)`,
    );
  return { bucket, prefix: normalisePrefix(m[2] ?? '') };
}

export function normalisePrefix(prefix: string): string {
  const parts = prefix.split('/').filter((p) => p.length > 0);
  for (const p of parts) if (p === '.' || p === '..') throw settingError(`an S3 prefix may not contain "${p}" segments: "${prefix}"`);
  return parts.length > 0 ? `${parts.join('/')}/` : '';
}

/** The prefix every object of one job starts with. */
export function jobPrefix(location: S3Location, jobId: string): string {
  return `${location.prefix}${checkJobId(jobId)}/`;
}

export function objectKey(location: S3Location, jobId: string, fileName: string): string {
  return `${jobPrefix(location, jobId)}${checkFileName(fileName)}`;
}

/** The file name of a key listed under a job's prefix (undefined for anything deeper or elsewhere). */
export function fileNameOfKey(location: S3Location, jobId: string, key: string): string | undefined {
  const prefix = jobPrefix(location, jobId);
  if (!key.startsWith(prefix)) return undefined;
  const name = key.slice(prefix.length);
  return name.length > 0 && !name.includes('/') ? name : undefined;
}

export function describeLocation(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}

/** A job id names a folder or a key segment: it must be one path segment. */
export function checkJobId(jobId: string): string {
  if (!isSegment(jobId)) throw new Error(`not a job id: "${jobId}"`);
  return jobId;
}

/** A file name is one path segment (URLs carry it; it must never climb out of the job's folder or prefix). */
export function checkFileName(fileName: string): string {
  if (!isSegment(fileName)) throw new Error(`not an export file name: "${fileName}"`);
  return fileName;
}

function isSegment(s: string): boolean {
  return s.length > 0 && s !== '.' && s !== '..' && !/[/\\\0]/.test(s);
}

/** A storage setting that cannot work (reported like any bad option: the message, no stack). */
export function settingError(message: string): FhirBridgeError {
  return new FhirBridgeError(message, { issueCode: 'invalid', status: 400 });
}
