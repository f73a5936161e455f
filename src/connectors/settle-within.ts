// A bound on cleanup work that talks to a database: a connection that died without the driver noticing
// must not keep a finished export waiting forever.

/** How long ending a snapshot's transaction may take before its connection is dropped instead. */
export const SNAPSHOT_RELEASE_TIMEOUT_MS = 5000;

/** `work`, or a rejection once `ms` have passed (the timer does not keep the process alive). */
export function settleWithin<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
