// V8 lets a long-lived heap grow to a multiple of what is live before it collects, and raises that limit as
// it goes. A pool thread over an export's parts grew from ~65 MiB live to ~150 MiB, and the coordinating
// thread, which allocates little but steadily (progress, part results, file assembly), from ~40 MiB live to
// ~140 MiB: most of it garbage, all of it resident. Collecting whenever a thread has left much garbage
// since its last collection keeps each heap near what is live. A thread cannot be given --expose-gc; the
// flag set at run time exposes gc() to a new context.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** garbage a thread may leave before it collects (MiB): a full collection costs ~0.1 s */
const COLLECT_ABOVE_MIB = 48;
// per thread: every worker thread has its own instance of this module
let liveAfterCollect = 0;

/** A full collection when the heap has grown by more than COLLECT_ABOVE_MIB since the last one. */
export function collectIfMuchGarbage(): void {
  const used = getHeapStatistics().used_heap_size / 2 ** 20;
  if (used - liveAfterCollect < COLLECT_ABOVE_MIB) return;
  collect();
  liveAfterCollect = getHeapStatistics().used_heap_size / 2 ** 20;
}
