// A bound on cleanup work that talks to a database: a connection that died without the driver noticing
// must not keep a finished export waiting forever.

/** How long ending a snapshot's transaction may take before its connection is dropped instead. */
export const SNAPSHOT_RELEASE_TIMEOUT_MS = 5000;

/**
 * How long a read may wait for one of a snapshot's pinned connections (MariaDB/MySQL) before it fails,
 * retryably: only a pool capped below the connections the export pins makes a read wait at all, and then
 * for another read's turn; a wait this long means the one it waits for will not come back.
 */
export const SNAPSHOT_CONNECTION_WAIT_MS = 60_000;

/** `work`, or a rejection once `ms` have passed (the timer does not keep the process alive). */
export function settleWithin<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** `release`, run once however often it is called (a snapshot's, say): later calls share the first one's end. */
export function releaseOnce(release: () => Promise<void>): () => Promise<void> {
  let released: Promise<void> | undefined;
  return () => {
    released ??= release();
    return released;
  };
}
