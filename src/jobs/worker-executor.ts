// Runs each export job in a worker thread (export-worker.ts) with its own connection to the source, so
// a CPU-heavy export never delays status polls: the server thread only relays progress and the result.
// Needs the compiled module (dist/jobs/export-worker.js); under a TypeScript test runner the
// in-process pipeline executor is used instead (see `canUseWorkers`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FhirBridgeError } from '../errors.js';
import type { JobExecutor, JobResult } from './runner.js';
import type { PipelineExecutorOptions } from './pipeline-executor.js';
import type { WorkerInput, WorkerMessage } from './export-worker.js';

const WORKER_URL = new URL('./export-worker.js', import.meta.url);

export function canUseWorkers(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

export function workerExecutor(
  connectorFile: string | undefined,
  options: Omit<PipelineExecutorOptions, 'adapter' | 'mappings'> = {},
  /** the worker module (tests substitute a stand-in speaking the same messages) */
  workerUrl: URL = WORKER_URL,
): JobExecutor {
  return ({ job, dir, signal, onProgress }) =>
    new Promise<JobResult>((resolve, reject) => {
      const input: WorkerInput = { job, dir, options, ...(connectorFile ? { connectorFile } : {}) };
      const worker = new Worker(workerUrl, { workerData: input });
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => worker.postMessage({ type: 'abort', reason: String((signal.reason as Error)?.message ?? 'aborted') });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') onProgress(m.text);
        else if (m.type === 'done') finish(() => resolve(m.result));
        else
          finish(() =>
            reject(
              new FhirBridgeError(m.message, {
                ...(m.issueCode ? { issueCode: m.issueCode as FhirBridgeError['issueCode'] } : {}),
                ...(m.status ? { status: m.status } : {}),
              }),
            ),
          );
      });
      worker.on('error', (err) => finish(() => reject(err)));
      worker.on('exit', (code) => finish(() => reject(new Error(`export worker exited with code ${code} before finishing`))));
    });
}
