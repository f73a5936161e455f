// Worker-thread side of worker-executor.ts: opens its own source from the connector file, runs one job
// with the pipeline executor, and reports progress and the result to the server thread. Mapping is CPU
// work; doing it here keeps the server's event loop free for status polls and downloads.
import { parentPort, workerData } from 'node:worker_threads';
import { FhirBridgeError } from '../errors.js';
import { openSource } from '../pipeline/open-source.js';
import type { JobResult } from './runner.js';
import { pipelineExecutor, type PipelineExecutorOptions } from './pipeline-executor.js';
import type { ExportJob } from './types.js';

export interface WorkerInput {
  connectorFile?: string;
  job: ExportJob;
  dir: string;
  options: Omit<PipelineExecutorOptions, 'adapter' | 'mappings'>;
}

export type WorkerMessage =
  | { type: 'progress'; text: string }
  | { type: 'done'; result: JobResult }
  | { type: 'error'; message: string; issueCode?: string; status?: number; name?: string };

const port = parentPort;
if (port) {
  const input = workerData as WorkerInput;
  const controller = new AbortController();
  port.on('message', (m: { type: string; reason?: string }) => {
    if (m.type === 'abort') controller.abort(new Error(m.reason ?? 'aborted'));
  });
  const post = (m: WorkerMessage): void => port.postMessage(m);
  void (async () => {
    let close: (() => Promise<void>) | undefined;
    try {
      const source = await openSource(input.connectorFile, { ping: false });
      close = source.close;
      const execute = pipelineExecutor({ ...input.options, adapter: source.adapter, mappings: source.mappings });
      const result = await execute({
        job: input.job,
        dir: input.dir,
        signal: controller.signal,
        onProgress: (text) => post({ type: 'progress', text }),
      });
      post({ type: 'done', result });
    } catch (e) {
      const err = e as Error;
      post({
        type: 'error',
        message: err?.message ?? String(e),
        name: err?.name,
        ...(e instanceof FhirBridgeError ? { issueCode: e.issueCode, status: e.status } : {}),
      });
    } finally {
      await close?.().catch(() => undefined);
      port.close();
    }
  })();
}
