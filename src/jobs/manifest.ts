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
