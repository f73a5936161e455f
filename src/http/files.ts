// File request: GET /files/:id/:file.
// Bulk Data IG 2.0.0, Bulk Data Output File Request (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request):
// a file of a completed job the caller may see, streamed from the file store (the data folder or an S3
// bucket, src/storage/) as application/fhir+ndjson,
// gzip-encoded when the client accepts gzip (files stored gzipped are sent as they are, or inflated for
// clients that do not accept gzip). A token must allow reading the file's resource type. The job runner
// is told when a download starts and ends, so an expiry sweep never deletes a file being read.
import { pipeline, type Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { HttpError } from '../errors.js';
import type { JobRunner } from '../jobs/runner.js';
import { type ExportFileStore, NDJSON_CONTENT_TYPE } from '../storage/types.js';
import { canExport } from './auth/scopes.js';
import type { RequestContext } from './request-context.js';

export { NDJSON_CONTENT_TYPE };

export interface FileOptions {
  context: RequestContext;
  runner: JobRunner;
  files: ExportFileStore;
}

export const fileRoutes: FastifyPluginAsync<FileOptions> = async (app, { context, runner, files }) => {
  app.get('/files/:id/:file', async (request, reply) => {
    const { id, file } = request.params as { id: string; file: string };
    const claims = await context.authenticate(request);
    const job = await context.visibleJob(request, id);
    if (job.status !== 'completed' || !job.manifest)
      throw new HttpError(404, `export job ${id} has no files (status ${job.status})`, 'not-found');
    const entry = [...job.manifest.output, ...job.manifest.error, ...(job.manifest.deleted ?? [])].find((f) =>
      f.url.endsWith(`/${encodeURIComponent(file)}`),
    );
    if (!entry) throw new HttpError(404, `export job ${id} has no file ${file}`, 'not-found');
    if (claims && entry.type !== 'OperationOutcome' && !canExport(claims.scopes, entry.type)) {
      throw new HttpError(403, `the access token's scopes do not allow reading ${entry.type}`, 'forbidden');
    }
    return sendNdjsonFile(reply, () => files.open(id, file), file, request.headers['accept-encoding'], runner.downloadStarted(id));
  });
};

/** Whether an Accept-Encoding header allows gzip (q=0 forbids it). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

export async function sendNdjsonFile(
  reply: FastifyReply,
  open: () => Promise<Readable | undefined>,
  fileName: string,
  acceptEncoding: string | undefined,
  onEnd: () => void,
): Promise<FastifyReply> {
  let file: Readable | undefined;
  try {
    file = await open();
  } catch (err) {
    onEnd();
    throw err;
  }
  if (!file) {
    onEnd();
    throw new HttpError(404, `file ${fileName} is no longer available`, 'not-found');
  }
  const storedGzip = fileName.endsWith('.gz');
  const gzip = acceptsGzip(acceptEncoding);
  reply.raw.once('close', onEnd);
  reply.header('Content-Type', NDJSON_CONTENT_TYPE).header('Vary', 'Accept-Encoding');
  let body: Readable = file;
  const fail = (err: Error | null): void => {
    if (err) reply.log.warn({ err, file: fileName }, 'file download stream failed');
  };
  if (gzip) {
    reply.header('Content-Encoding', 'gzip');
    if (!storedGzip) body = pipeline(file, createGzip(), fail);
  } else if (storedGzip) {
    body = pipeline(file, createGunzip(), fail);
  }
  return reply.send(body);
}
