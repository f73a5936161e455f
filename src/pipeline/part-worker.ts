// A thread of the warm pool (worker-pool.ts): runs parts, keeping each connector's open source (adapter and
// compiled mappings) for the next part, so only the first part a thread ever runs pays for opening it.
// Progress goes back, and an abort comes in, on the MessagePort each task brings along.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MessagePort } from 'node:worker_threads';
import { PartSources } from './open-source.js';
import type { ExportPart } from './part.js';
import { serializeError, type PartTaskResult } from './part-errors.js';
import { runPart } from './run-part.js';
import { sharedValidator } from './validate-resource.js';

export type PartTask = { kind: 'part'; part: ExportPart; port: MessagePort } | { kind: 'warm'; connectorFile?: string; validate?: boolean };

/** What the coordinator sends down a task's port. */
export type PartPortMessage = { type: 'abort'; reason: string };

const sources = new PartSources();

// V8 lets a long-lived heap grow to a multiple of what is live before it collects, and raises that limit as
// it goes: over an export's parts each thread's heap grew from ~130 MiB live to ~300 MiB, most of it the
// garbage of parts already done. Collecting after a part that left much garbage keeps the limit near what
// is live (the thread's compiled mappings and validator). A thread cannot be given --expose-gc; the flag
// set at run time exposes gc() to a new context.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
/** garbage a part may leave before the thread collects (MiB): a full collection costs ~0.1 s */
const COLLECT_ABOVE_MIB = 48;
let liveAfterCollect = 0;

function collectIfMuchGarbage(): void {
  const used = getHeapStatistics().used_heap_size / 2 ** 20;
  if (used - liveAfterCollect < COLLECT_ABOVE_MIB) return;
  collect();
  liveAfterCollect = getHeapStatistics().used_heap_size / 2 ** 20;
}

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
      onProgress: (p) => port.postMessage({ type: 'progress', progress: p }),
    });
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: serializeError(controller.signal.aborted ? controller.signal.reason : err) };
  } finally {
    port.close();
    collectIfMuchGarbage();
  }
}
