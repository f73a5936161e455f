import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FhirResource } from '../mapping/types.js';
import { createNdjsonSink } from './ndjson-sink.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ndjson-sink-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const patient = (i: number): FhirResource => ({ resourceType: 'Patient', id: `p${i}`, gender: i % 2 ? 'male' : 'female' }) as FhirResource;
const observation = (i: number): FhirResource =>
  ({ resourceType: 'Observation', id: `o${i}`, status: 'final', code: { text: `c${i}` } }) as FhirResource;
const lines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);

describe('createNdjsonSink', () => {
  it('writes one file per resourceType and an error file, counting lines and bytes', async () => {
    const sink = createNdjsonSink({ dir });
    for (let i = 0; i < 3; i++) await sink.write(patient(i));
    await sink.write(observation(1));
    await sink.writeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value', diagnostics: 'bad date' }] });
    const result = await sink.close();

    expect(result.output.map((f) => [f.type, f.count])).toEqual([
      ['Observation', 1],
      ['Patient', 3],
    ]);
    expect(result.error).toHaveLength(1);
    expect(result.error[0]!.path).toBe(join(dir, 'OperationOutcome.000001.ndjson'));
    const patients = await readFile(join(dir, 'Patient.000001.ndjson'), 'utf8');
    expect(lines(patients)).toEqual([patient(0), patient(1), patient(2)]);
    expect(result.output.find((f) => f.type === 'Patient')!.bytes).toBe(Buffer.byteLength(patients));
    expect(lines(await readFile(result.error[0]!.path, 'utf8'))[0]).toMatchObject({ issue: [{ diagnostics: 'bad date' }] });
  });

  it('round-trips through gzip and reports the compressed size', async () => {
    const sink = createNdjsonSink({ dir, gzip: true, filePrefix: 'job1-' });
    const written = Array.from({ length: 500 }, (_, i) => observation(i));
    for (const r of written) await sink.write(r);
    const result = await sink.close();
    expect(result.output).toHaveLength(1);
    const file = result.output[0]!;
    expect(file.path).toBe(join(dir, 'job1-Observation.000001.ndjson.gz'));
    const raw = await readFile(file.path);
    expect(file.bytes).toBe(raw.length);
    expect(lines(gunzipSync(raw).toString('utf8'))).toEqual(written);
  });

  it('splits a type into parts of maxResourcesPerFile lines', async () => {
    const sink = createNdjsonSink({ dir, maxResourcesPerFile: 4 });
    for (let i = 0; i < 10; i++) await sink.write(patient(i));
    const result = await sink.close();
    expect(result.output.map((f) => f.count)).toEqual([4, 4, 2]);
    expect((await readdir(dir)).sort()).toEqual(['Patient.000001.ndjson', 'Patient.000002.ndjson', 'Patient.000003.ndjson']);
    const all = [];
    for (const f of result.output) all.push(...lines(await readFile(f.path, 'utf8')));
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => patient(i)));
  });

  it('splits correctly when writers run concurrently', async () => {
    const sink = createNdjsonSink({ dir, maxResourcesPerFile: 7, highWaterMark: 64 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => sink.write(patient(i))));
    const result = await sink.close();
    expect(result.output.every((f) => f.count <= 7)).toBe(true);
    const ids = [];
    for (const f of result.output) ids.push(...lines(await readFile(f.path, 'utf8')).map((r) => (r as { id: string }).id));
    expect(ids.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`).sort());
  });

  it('waits for a slow destination instead of buffering everything', async () => {
    const received: string[] = [];
    let maxBuffered = 0;
    let drains = 0;
    let dest: Writable | undefined;
    const sink = createNdjsonSink({
      dir,
      highWaterMark: 128,
      openFile: (_path, hwm) => {
        dest = new Writable({
          highWaterMark: hwm,
          write(chunk: Buffer, _enc, cb) {
            received.push(chunk.toString());
            setTimeout(cb, 1);
          },
        });
        dest.on('drain', () => drains++);
        return dest;
      },
    });
    const oneLine = Buffer.byteLength(JSON.stringify(patient(100)) + '\n');
    for (let i = 100; i < 160; i++) {
      await sink.write(patient(i));
      maxBuffered = Math.max(maxBuffered, dest!.writableLength);
    }
    const result = await sink.close();
    // Without awaiting 'drain' the whole run (60 lines) would sit in the buffer.
    expect(drains).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThan(128 + oneLine);
    expect(lines(received.join(''))).toHaveLength(60);
    expect(result.output[0]!.count).toBe(60);
  });

  it('rejects writes when the destination fails', async () => {
    const sink = createNdjsonSink({
      dir,
      highWaterMark: 16,
      openFile: () =>
        new Writable({
          write(_chunk, _enc, cb) {
            cb(new Error('disk full'));
          },
        }),
    });
    await expect(
      (async () => {
        for (let i = 0; i < 100; i++) await sink.write(patient(i));
      })(),
    ).rejects.toThrow('disk full');
    await sink.abort();
  });

  it('abort removes every file written, including finished parts', async () => {
    const sink = createNdjsonSink({ dir, maxResourcesPerFile: 2, gzip: true });
    for (let i = 0; i < 5; i++) await sink.write(patient(i));
    await sink.writeError({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value' }] });
    // parts 1 and 2 are finished, part 3 and the error file are open
    await vi.waitFor(async () => expect((await readdir(dir)).length).toBe(4));
    await sink.abort();
    expect(await readdir(dir)).toEqual([]);
    await expect(sink.write(patient(9))).rejects.toThrow(/aborted/);
  });

  it('refuses writes after close and creates no file for a type never written', async () => {
    const sink = createNdjsonSink({ dir: join(dir, 'nested', 'out') });
    const result = await sink.close();
    expect(result).toEqual({ output: [], error: [] });
    await expect(sink.write(patient(1))).rejects.toThrow(/closed/);
  });
});
