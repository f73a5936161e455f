// `fhir-bridge worker`: a process that only runs export parts taken from the PostgreSQL queue that `serve
// --queue` sends them to. It needs what the parts name (the connector files, the output folder) at the same
// paths as the server that queued them. It registers itself, like serve, because it runs until stopped.
import type { Command } from 'commander';
import { startQueueWorker } from '../../queue/queue-worker.js';
import { positiveInt, UsageError } from '../options.js';
import { addQueueOptions } from './queue-options.js';

export interface WorkerOptions {
  queue?: string;
  queueSchema?: string;
  id?: string;
  concurrency?: string;
}

export function registerWorkerCommand(program: Command): void {
  const command = program
    .command('worker')
    .description('run export parts from the PostgreSQL queue of `fhir-bridge serve --queue` (any number of these, anywhere)');
  addQueueOptions(command)
    .option('--id <name>', "this worker's name in the queue's records (default host:pid)")
    .option('--concurrency <n>', 'parts run at the same time in this process', '1')
    .action(async (opts: WorkerOptions) => {
      await work(opts);
    });
}

export async function work(opts: WorkerOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const url = opts.queue ?? env.FHIR_BRIDGE_QUEUE;
  if (!url) throw new UsageError('fhir-bridge worker needs --queue <postgres-url> (or FHIR_BRIDGE_QUEUE)');
  const worker = await startQueueWorker(
    { url, ...(opts.queueSchema ? { schema: opts.queueSchema } : {}) },
    { ...(opts.id ? { id: opts.id } : {}), concurrency: positiveInt('--concurrency', opts.concurrency, 1) },
  );
  process.stderr.write(`fhir-bridge worker ${worker.id}: taking parts from the queue\n`);
  const stop = async (signal: string): Promise<void> => {
    process.stderr.write(`${signal}: stopping (running parts go back to the queue)\n`);
    await worker.stop({ abort: true });
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
