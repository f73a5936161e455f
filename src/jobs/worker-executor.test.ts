import { describe, expect, it } from 'vitest';
import { FhirBridgeError } from '../errors.js';
import type { ExportJob } from './types.js';
import { workerExecutor } from './worker-executor.js';

const FAKE = new URL('../../test/support/fake-export-worker.mjs', import.meta.url);
const job = { id: 'j1', params: { outputFormat: 'application/fhir+ndjson', types: ['Patient'] } } as unknown as ExportJob;

function run(mode: string, signal = new AbortController().signal) {
  const progress: string[] = [];
  const promise = workerExecutor(mode, {}, FAKE)({ job, dir: '/tmp/x', signal, onProgress: (t) => progress.push(t) });
  return { promise, progress };
}

describe('worker executor', () => {
  it('relays progress and the result', async () => {
    const { promise, progress } = run('ok');
    expect((await promise).files.output[0]).toMatchObject({ type: 'Patient', count: 2 });
    expect(progress).toEqual(['job j1 started']);
  });

  it('turns a worker error into a FhirBridgeError with its issue code', async () => {
    const err = await run('fail').promise.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirBridgeError);
    expect(err).toMatchObject({ message: 'table gone', issueCode: 'transient', status: 503 });
  });

  it('fails when the worker exits without an answer', async () => {
    await expect(run('crash').promise).rejects.toThrow('exited with code 3');
  });

  it('passes an abort on to the worker', async () => {
    const controller = new AbortController();
    // abort once the worker is known to be running (its first progress message)
    const promise = workerExecutor(
      'hang',
      {},
      FAKE,
    )({ job, dir: '/tmp/x', signal: controller.signal, onProgress: () => controller.abort(new Error('cancelled by the client')) });
    await expect(promise).rejects.toThrow('aborted: cancelled by the client');
  });
});
