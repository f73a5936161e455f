// NDJSON files on disk: one file set per resourceType (`Patient.000001.ndjson[.gz]`, split every
// maxResourcesPerFile lines) plus `OperationOutcome.000001.ndjson` for rows that could not be mapped and
// `deleted.000001.ndjson` for the deleted-resource Bundles of a `_since` export.
// Safe for several concurrent writers (the pipeline may run mappings in parallel): rotating a file is
// synchronous, so two writers never open the same part twice.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { OperationOutcome } from 'fhir/r4';
import type { FhirResource } from '../mapping/types.js';
import type { DeletedBundle, OutputFile, ResourceSink, SinkResult } from './types.js';

export interface NdjsonSinkOptions {
  /** folder the files go to (created when missing) */
  dir: string;
  /** lines per file before the next part starts (default 100000) */
  maxResourcesPerFile?: number;
  /** gzip each file (`.ndjson.gz`) */
  gzip?: boolean;
  /** prepended to every file name, e.g. a job id */
  filePrefix?: string;
  /** stream buffer size in bytes (default 256 KiB); small values are for tests of backpressure */
  highWaterMark?: number;
  /** where bytes go instead of a file (tests: a slow destination); default fs.createWriteStream */
  openFile?: (path: string, highWaterMark: number) => Writable;
}

/** Bytes collected before a write(): big enough that per-write costs vanish, small against highWaterMark. */
const FLUSH_BYTES = 64 * 1024;
/** What a write that needs no waiting returns: one settled promise shared by all of them. */
const ACCEPTED: Promise<void> = Promise.resolve();

/** The error file set is kept apart from a resource file set even if a mapping emits OperationOutcome. */
const ERROR_KEY = '\0error';
/** Deleted-resource Bundles: `deleted.000001.ndjson` (lower case: no resourceType file can take the name). */
const DELETED_KEY = '\0deleted';
const DELETED_FILE = 'deleted';

interface OpenPart {
  type: string;
  isError: boolean;
  isDeleted: boolean;
  path: string;
  count: number;
  bytes: number;
  /** what lines are written to (the gzip stream or the file itself) */
  input: Writable;
  /**
   * lines not yet handed to `input`, encoded as they come (bytes 0..used): one write() per ~64 KiB instead
   * of one per resource, and no joined text to flatten and encode again; a new buffer after each write()
   * (the stream keeps the old one until it is on disk)
   */
  buf: Buffer | undefined;
  used: number;
  /** settles when the bytes are on disk; rejects with the stream's error */
  done: Promise<void>;
  failure?: unknown;
}

export function createNdjsonSink(options: NdjsonSinkOptions): ResourceSink {
  const dir = resolve(options.dir);
  const maxPerFile = options.maxResourcesPerFile ?? 100_000;
  if (!Number.isInteger(maxPerFile) || maxPerFile < 1) {
    throw new RangeError(`maxResourcesPerFile must be a positive integer, got ${String(maxPerFile)}`);
  }
  const gzip = options.gzip ?? false;
  const prefix = options.filePrefix ?? '';
  const highWaterMark = options.highWaterMark ?? 256 * 1024;
  const flushBytes = Math.min(FLUSH_BYTES, highWaterMark);
  // room for the lines of one write(): a line that does not fit (rare: > ~20 000 characters) grows it
  const capacity = 2 * flushBytes;
  const openFile = options.openFile ?? ((path: string, hwm: number): WriteStream => createWriteStream(path, { highWaterMark: hwm }));

  const current = new Map<string, OpenPart>();
  const partNumbers = new Map<string, number>();
  /** every part ever opened, in the order they were closed (or opened, for those still open) */
  const closing: OpenPart[] = [];
  const created: string[] = [];
  let dirReady: Promise<void> | undefined;
  let dirExists = false;
  let state: 'open' | 'closed' | 'aborted' = 'open';

  function openPart(key: string, type: string, isError: boolean): OpenPart {
    const n = (partNumbers.get(key) ?? 0) + 1;
    partNumbers.set(key, n);
    const isDeleted = key === DELETED_KEY;
    const stem = isDeleted ? DELETED_FILE : type;
    const path = join(dir, `${prefix}${stem}.${String(n).padStart(6, '0')}.ndjson${gzip ? '.gz' : ''}`);
    created.push(path);
    const file = openFile(path, highWaterMark);
    let input: Writable;
    let done: Promise<void>;
    if (gzip) {
      const gz = createGzip();
      input = gz;
      done = pipeline(gz, file);
    } else {
      input = file;
      done = finished(file);
    }
    const part: OpenPart = { type, isError, isDeleted, path, count: 0, bytes: 0, input, buf: undefined, used: 0, done };
    // Remember the failure for the next write/close instead of leaving an unhandled rejection.
    done.catch((err: unknown) => {
      part.failure = err;
    });
    current.set(key, part);
    return part;
  }

  function finishPart(key: string, part: OpenPart): void {
    current.delete(key);
    closing.push(part);
    const rest = take(part);
    if (rest) part.input.end(rest);
    else part.input.end();
  }

  /** The part's pending lines, for write(): their length is the byte count (no Buffer.byteLength pass). */
  function take(part: OpenPart): Buffer | undefined {
    const { buf, used } = part;
    if (buf === undefined || used === 0) return undefined;
    part.buf = undefined;
    part.used = 0;
    part.bytes += used;
    return buf.subarray(0, used);
  }

  /** One line (`json` and a newline), encoded into the part's buffer. */
  function append(part: OpenPart, json: string): void {
    let buf = part.buf ?? Buffer.allocUnsafe(capacity);
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a line near the end of the room is measured
    if (buf.length - part.used < json.length * 3 + 1) {
      const need = part.used + Buffer.byteLength(json) + 1;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(need, 2 * buf.length));
        buf.copy(bigger, 0, 0, part.used);
        buf = bigger;
      }
    }
    part.buf = buf;
    part.used += buf.write(json, part.used, 'utf8');
    buf[part.used++] = 0x0a;
  }

  /** One line; the usual case (the part is open and has room) returns without an async frame per resource. */
  function writeLine(key: string, type: string, isError: boolean, value: unknown): Promise<void> {
    const part = current.get(key);
    if (state !== 'open' || !dirExists || part === undefined || part.count >= maxPerFile || part.failure !== undefined)
      return writeLineSlow(key, type, isError, value);
    let json: string;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      return Promise.reject(err);
    }
    append(part, json);
    part.count++;
    if (part.used < flushBytes || part.input.write(take(part)!)) return ACCEPTED;
    return drained(part);
  }

  async function writeLineSlow(key: string, type: string, isError: boolean, value: unknown): Promise<void> {
    if (state !== 'open') throw new Error(`NDJSON sink is ${state}; cannot write ${type}`);
    if (!dirExists) {
      dirReady ??= mkdir(dir, { recursive: true }).then(() => undefined);
      await dirReady;
      dirExists = true;
      if (state !== 'open') throw new Error(`NDJSON sink is ${state}; cannot write ${type}`);
    }
    let part = current.get(key);
    if (part && part.count >= maxPerFile) {
      finishPart(key, part);
      part = undefined;
    }
    part ??= openPart(key, type, isError);
    if (part.failure) throw part.failure;
    append(part, JSON.stringify(value));
    part.count++;
    if (part.used >= flushBytes && !part.input.write(take(part)!)) await drained(part);
  }

  async function drained(part: OpenPart): Promise<void> {
    // The part may be ended (rotated by another writer) before it drains; its completion then counts.
    const stop = new AbortController();
    try {
      await Promise.race([once(part.input, 'drain', { signal: stop.signal }), part.done]);
    } finally {
      stop.abort();
    }
  }

  async function settle(parts: OpenPart[]): Promise<void> {
    await Promise.allSettled(parts.map((p) => p.done));
  }

  return {
    write(resource: FhirResource): Promise<void> {
      return writeLine(resource.resourceType, resource.resourceType, false, resource);
    },
    writeError(outcome: OperationOutcome): Promise<void> {
      return writeLine(ERROR_KEY, 'OperationOutcome', true, outcome);
    },
    writeDeleted(bundle: DeletedBundle): Promise<void> {
      return writeLine(DELETED_KEY, 'Bundle', false, bundle);
    },
    async close(): Promise<SinkResult> {
      if (state === 'closed') throw new Error('NDJSON sink already closed');
      if (state === 'aborted') throw new Error('NDJSON sink was aborted');
      state = 'closed';
      // Close in a stable order: resource types alphabetically, the error file last.
      const keys = [...current.keys()].sort((a, b) => (a === ERROR_KEY ? 1 : b === ERROR_KEY ? -1 : a.localeCompare(b)));
      for (const key of keys) finishPart(key, current.get(key)!);
      await settle(closing);
      const failed = closing.find((p) => p.failure !== undefined);
      if (failed) throw failed.failure;
      const result: SinkResult = { output: [], error: [] };
      for (const part of closing) {
        // For gzip the size on disk is what a client downloads; for plain files it equals the count.
        const bytes = gzip ? (await stat(part.path)).size : part.bytes;
        const file: OutputFile = { type: part.type, path: part.path, count: part.count, bytes };
        if (part.isDeleted) {
          result.deleted ??= [];
          result.deleted.push(file);
        } else (part.isError ? result.error : result.output).push(file);
      }
      return result;
    },
    async abort(): Promise<void> {
      if (state === 'aborted') return;
      state = 'aborted';
      const parts = [...closing, ...current.values()];
      current.clear();
      for (const p of parts) p.input.destroy();
      await settle(parts);
      await Promise.all(created.map((path) => rm(path, { force: true })));
    },
  };
}
