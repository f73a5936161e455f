// What `serve --queue` and `fhir-bridge worker` share: the queue's options, and the serve side of the queue
// (its parts go to the queue; with --work it also takes parts like a worker).
import type { Command } from 'commander';
import { partsExecutor } from '../../jobs/parts-executor.js';
import { pipelineExecutor } from '../../jobs/pipeline-executor.js';
import type { JobExecutor } from '../../jobs/runner.js';
import type { SplitOptions } from '../../pipeline/key-ranges.js';
import type { OpenedSource } from '../../pipeline/open-source.js';
import { createQueuePartRunner } from '../../queue/queue-part-runner.js';
import { startQueueWorker, type QueueWorker } from '../../queue/queue-worker.js';
import type { QueueSettings } from '../../queue/part-queue.js';

export function addQueueOptions(command: Command): Command {
  return command
    .option(
      '--queue <postgres-url>',
      'PostgreSQL holding the parts queue (pg-boss), shared by servers and workers (default $FHIR_BRIDGE_QUEUE)',
    )
    .option('--queue-schema <name>', "schema of the queue's tables in that database", 'pgboss');
}

export interface QueueRoles {
  executor: JobExecutor;
  describe: string;
  close(): Promise<void>;
}

export interface QueueRolesOptions {
  settings: QueueSettings;
  work: boolean;
  source: OpenedSource;
  connectorFile?: string;
  maxResourcesPerFile: number;
  gzip: boolean;
  batchSize: number;
  validate: boolean;
  split: Omit<SplitOptions, 'adapter' | 'signal'>;
}

export async function startQueueRoles(o: QueueRolesOptions): Promise<QueueRoles> {
  const runner = await createQueuePartRunner(o.settings);
  let worker: QueueWorker | undefined;
  try {
    if (o.work) worker = await startQueueWorker(o.settings);
  } catch (err) {
    await runner.close();
    throw err;
  }
  const common = {
    mappings: o.source.mappings,
    sourceName: o.source.config.name,
    maxResourcesPerFile: o.maxResourcesPerFile,
    gzip: o.gzip,
  };
  const executor = partsExecutor({
    runner,
    ...(o.connectorFile ? { connectorFile: o.connectorFile } : {}),
    ...common,
    batchSize: o.batchSize,
    validate: o.validate,
    split: { ...o.split, adapter: o.source.adapter },
    // A source that can share its snapshot (PostgreSQL) gives every part, on any worker, the coordinator's
    // snapshot, and its deletions are read in it. Others cannot: their `_since` exports, which must read
    // changes and deletions in one snapshot, run on this process.
    ...(o.source.adapter.adoptSnapshot
      ? { adapter: o.source.adapter }
      : { sinceExecutor: pipelineExecutor({ adapter: o.source.adapter, ...common, validate: o.validate }) }),
  });
  return {
    executor,
    describe: `as parts on the queue (schema ${runner.queue.settings.schema})${worker ? `, this process working too as ${worker.id}` : ', run by `fhir-bridge worker` processes'}`,
    async close() {
      await worker?.stop({ abort: true });
      await runner.close();
    },
  };
}
