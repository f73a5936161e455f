// A thread of the warm pool (worker-pool.ts): runs parts, keeping each connector's open source (adapter and
// compiled mappings) for the next part, so only the first part a thread ever runs pays for opening it.
// Progress goes back, and an abort comes in, on the MessagePort each task brings along.
import type { MessagePort } from 'node:worker_threads';
import { collectIfMuchGarbage } from './collect-garbage.js';
import { PartSources } from './open-source.js';
import type { ExportPart } from './part.js';
import { serializeError, type PartTaskResult } from './part-errors.js';
import { runPart } from './run-part.js';
import { sharedValidator } from './validate-resource.js';

export type PartTask = { kind: 'part'; part: ExportPart; port: MessagePort } | { kind: 'warm'; connectorFile?: string; validate?: boolean };

/** What the coordinator sends down a task's port. */
export type PartPortMessage = { type: 'abort'; reason: string };

const sources = new PartSources();

export default async function runTask(task: PartTask): Promise<PartTaskResult> {
  if (task.kind === 'warm') {
    try {
      await sources.get(task.connectorFile);
      if (task.validate) await sharedValidator();
      return { ok: true };
    } catch (err) {
      return { ok: false, error: serializeError(err) };
    }
  }
  const { part, port } = task;
  const controller = new AbortController();
  port.on('message', (m: PartPortMessage) => {
    if (m.type === 'abort') controller.abort(new Error(m.reason));
  });
  try {
    const source = await sources.get(part.connectorFile);
    const result = await runPart(part, source, {
      signal: controller.signal,
      onProgress: (p) => {
        port.postMessage({ type: 'progress', progress: p });
        // a part can run for long: its garbage is collected as it goes, not only when it ends
        collectIfMuchGarbage();
      },
    });
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: serializeError(controller.signal.aborted ? controller.signal.reason : err) };
  } finally {
    port.close();
    collectIfMuchGarbage();
  }
}
