// Builds the Complete Status body (IG 2.0.0, export.html#response---complete-status) from what the sink
// wrote: one `output` entry per file (each file holds one resourceType; empty files are left out), the
// OperationOutcome files under `error` (always present, possibly empty), `deleted` (Bundles of DELETE
// entries) when a `_since` export found deletions, and an `extension` saying which types `_since` could not
// filter. transactionTime is the source snapshot's time when the executor reports one.
import { basename } from 'node:path';
import type { OutputFile, SinkResult } from '../sinks/types.js';
import type { ExportJob, ExportManifest, ManifestFile } from './types.js';

export const EXTENSION_BASE = 'https://github.com/fhir-bridge/fhir-bridge/export';

export interface ManifestInput {
  job: Pick<ExportJob, 'id' | 'requestUrl' | 'baseUrl' | 'transactionTime' | 'createdAt'>;
  files: SinkResult;
  requiresAccessToken: boolean;
  /** resource types whose mappings have no lastUpdated column, when `_since` was given */
  sinceNotApplied?: string[];
}

/** The name of the file a manifest URL of this server points at (its last path segment). */
export function fileNameOfUrl(url: string): string {
  return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
}

/**
 * The manifest as a client gets it when downloads go through pre-signed URLs: each file's URL is signed
 * at the time of the status request (so a poll long after completion still gets URLs valid for the full
 * period; the IG lets URLs change between polls), and no access token is needed to use them.
 */
export async function presignedManifest(manifest: ExportManifest, sign: (fileName: string) => Promise<string>): Promise<ExportManifest> {
  const signed = (files: ManifestFile[]): Promise<ManifestFile[]> =>
    Promise.all(files.map(async (f) => ({ ...f, url: await sign(fileNameOfUrl(f.url)) })));
  const out: ExportManifest = {
    ...manifest,
    requiresAccessToken: false,
    output: await signed(manifest.output),
    error: await signed(manifest.error),
  };
  if (manifest.deleted) out.deleted = await signed(manifest.deleted);
  return out;
}

/** Absolute URL a job file is downloaded from. */
export function fileUrl(baseUrl: string, jobId: string, fileName: string): string {
  return `${baseUrl}/files/${encodeURIComponent(jobId)}/${encodeURIComponent(fileName)}`;
}

export function buildManifest(input: ManifestInput): ExportManifest {
  const { job } = input;
  const entry = (f: OutputFile): ManifestFile => ({ type: f.type, url: fileUrl(job.baseUrl, job.id, basename(f.path)), count: f.count });
  const manifest: ExportManifest = {
    transactionTime: job.transactionTime ?? job.createdAt,
    request: job.requestUrl,
    requiresAccessToken: input.requiresAccessToken,
    output: input.files.output.filter((f) => f.count > 0).map(entry),
    error: input.files.error.filter((f) => f.count > 0).map(entry),
  };
  const deleted = (input.files.deleted ?? []).filter((f) => f.count > 0).map(entry);
  if (deleted.length > 0) manifest.deleted = deleted;
  if (input.sinceNotApplied && input.sinceNotApplied.length > 0) {
    // The IG lets a server include resources it keeps no last-updated time for; say which ones.
    manifest.extension = { [`${EXTENSION_BASE}/since-not-applied`]: [...input.sinceNotApplied].sort() };
  }
  return manifest;
}
