// Opens the parts queue: a started pg-boss 10 (its schema created or migrated on first use), the parts
// queue and our lease table. Coordinators and workers open it the same way, so any of them may come first.
import pg from 'pg';
import PgBoss from 'pg-boss';
import { logger } from '../log.js';
import { ensureLeaseTable } from './lease.js';
import { BACKSTOP_EXPIRE_SECONDS, PART_QUEUE, resolveSettings, type QueueSettings } from './part-queue.js';

export interface OpenQueue {
  boss: PgBoss;
  db: PgBoss.Db;
  settings: Required<QueueSettings>;
  stop(): Promise<void>;
}

export async function openQueue(settings: QueueSettings, options: { supervise?: boolean } = {}): Promise<OpenQueue> {
  const s = resolveSettings(settings);
  const boss = new PgBoss({
    connectionString: s.url,
    schema: s.schema,
    application_name: 'fhir-bridge-queue',
    max: 4,
    // pg-boss's maintenance expires active jobs after BACKSTOP_EXPIRE_SECONDS (our leases act much sooner)
    supervise: options.supervise ?? true,
    schedule: false,
  });
  // pg-boss reports connection trouble as events; an unhandled 'error' event would end the process
  boss.on('error', (err) => logger('queue').warn({ err: err.message }, 'queue database error'));
  // Servers and workers starting together would race to create pg-boss's schema (deadlocks): one at a time.
  const lock = new pg.Client({ connectionString: s.url, application_name: 'fhir-bridge-queue-setup' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [`fhir-bridge-queue:${s.schema}`]);
    await boss.start();
    await boss.createQueue(PART_QUEUE, {
      name: PART_QUEUE,
      retryLimit: s.retryLimit,
      retryDelay: 0,
      expireInSeconds: BACKSTOP_EXPIRE_SECONDS,
    });
    await ensureLeaseTable(boss.getDb(), s.schema);
  } catch (err) {
    await boss.stop({ graceful: false, close: true, wait: true }).catch(() => undefined);
    throw err;
  } finally {
    // ending the session releases the lock
    await lock.end().catch(() => undefined);
  }
  const db = boss.getDb();
  return { boss, db, settings: s, stop: () => boss.stop({ graceful: false, close: true, wait: true }) };
}
