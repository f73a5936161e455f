// A sink that lets the event loop run at least every `everyMs` of writing: an export on a server's own thread
// (mapping and validating between writes) would otherwise keep status polls and downloads waiting for as long
// as it has rows to map.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ResourceSink } from './types.js';

export function yieldingSink(inner: ResourceSink, everyMs: number): ResourceSink {
  let last = performance.now();
  const maybeYield = async (): Promise<void> => {
    if (performance.now() - last < everyMs) return;
    await yieldToEventLoop();
    last = performance.now();
  };
  return {
    async write(resource) {
      await maybeYield();
      await inner.write(resource);
    },
    async writeError(outcome) {
      await maybeYield();
      await inner.writeError(outcome);
    },
    ...(inner.writeDeleted ? { writeDeleted: (bundle) => inner.writeDeleted!(bundle) } : {}),
    close: () => inner.close(),
    abort: () => inner.abort(),
  };
}
