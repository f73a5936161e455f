// Output file downloads (IG 2.0.0, export.html#bulk-data-output-file-request): streamed from disk as
// application/fhir+ndjson, gzip-encoded when the client accepts gzip (files stored gzipped are sent as
// they are, or inflated for clients that do not accept gzip).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { FastifyReply } from 'fastify';
import { HttpError } from '../errors.js';

export const NDJSON_CONTENT_TYPE = 'application/fhir+ndjson';

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

export async function sendNdjsonFile(reply: FastifyReply, dir: string, fileName: string, acceptEncoding: string | undefined, onEnd: () => void): Promise<FastifyReply> {
  const path = join(dir, fileName);
  try {
    await stat(path);
  } catch {
    throw new HttpError(404, `file ${fileName} is no longer available`, 'not-found');
  }
  const storedGzip = fileName.endsWith('.gz');
  const gzip = acceptsGzip(acceptEncoding);
  const file = createReadStream(path);
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
