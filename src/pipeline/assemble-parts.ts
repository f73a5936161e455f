// The export's files from its parts' files: per resourceType (and for the error files), the parts' files in
// part order become `<prefix><Type>.000001.ndjson`, `.000002`, ... A part's file is renamed when it starts a
// new file and appended (bytes; gzip members concatenate into a valid gzip file, RFC 1952 §2.2) when it
// fits in the file before it, so a type written by several small parts is still one file and the content of
// each type, read in manifest order, is what a single-threaded export writes.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { OutputFile, SinkResult } from '../sinks/types.js';

export interface AssembleOptions {
  dir: string;
  /** prepended to every final file name (e.g. a job id); '' for none */
  filePrefix: string;
  maxResourcesPerFile: number;
  gzip: boolean;
}

/** `results` in part order; returns the final files (types alphabetically, each type's files in order). */
export async function assembleParts(results: SinkResult[], options: AssembleOptions): Promise<SinkResult> {
  const byType = (pick: (r: SinkResult) => OutputFile[]): Map<string, OutputFile[]> => {
    const out = new Map<string, OutputFile[]>();
    for (const r of results) for (const f of pick(r)) out.set(f.type, [...(out.get(f.type) ?? []), f]);
    return out;
  };
  const outputs = byType((r) => r.output);
  const errors = byType((r) => r.error);
  const types = [...outputs.keys()].sort();
  const assembled = await Promise.all([
    ...types.map((t) => assembleType(t, outputs.get(t)!, options)),
    ...[...errors.keys()].sort().map((t) => assembleType(t, errors.get(t)!, options)),
  ]);
  return { output: assembled.slice(0, types.length).flat(), error: assembled.slice(types.length).flat() };
}

async function assembleType(type: string, files: OutputFile[], options: AssembleOptions): Promise<OutputFile[]> {
  const out: OutputFile[] = [];
  for (const file of files) {
    const last = out.at(-1);
    if (last && last.count + file.count <= options.maxResourcesPerFile) {
      await pipeline(createReadStream(file.path), createWriteStream(last.path, { flags: 'a' }));
      await rm(file.path, { force: true });
      last.count += file.count;
      last.bytes += file.bytes;
      continue;
    }
    const name = `${options.filePrefix}${type}.${String(out.length + 1).padStart(6, '0')}.ndjson${options.gzip ? '.gz' : ''}`;
    const path = join(options.dir, name);
    await rename(file.path, path);
    out.push({ type, path, count: file.count, bytes: file.bytes });
  }
  return out;
}
