// A job executor whose files are published to the store once they are all written: the store decides
// what "published" means (nothing for the local folder, an upload for S3). Wrapping the executor rather
// than the runner keeps publishing next to the writing, wherever the executor runs.
import { basename } from 'node:path';
import type { JobExecutor } from '../jobs/runner.js';
import type { ExportFileStore } from './types.js';

export function publishingExecutor(inner: JobExecutor, store: ExportFileStore): JobExecutor {
  return async (execution) => {
    const result = await inner(execution);
    execution.signal.throwIfAborted();
    const { files } = result;
    // what the manifest lists: files that hold something
    const names = [...files.output, ...files.error, ...(files.deleted ?? [])].filter((f) => f.count > 0).map((f) => basename(f.path));
    await store.publish(execution.job.id, names, execution.signal);
    return result;
  };
}
