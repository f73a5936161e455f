import { it } from 'vitest';
import { testDatabase, type TestDatabase } from '../../test/support/databases.js';
import { loadSample } from './load-sample.js';
it('measure', async () => {
  for (const kind of ['postgres', 'mysql'] as const) {
    const db = (await testDatabase(kind)) as TestDatabase;
    const r = await loadSample(db.config(), { copies: 20 });
    console.log(kind, 'load copies=20', r.durationMs, 'ms', r.tables.claims_transactions);
    await db.cleanup();
  }
  const r = await loadSample({ file: '/x', name: 's', kind: 'sqlite', path: '/tmp/cx/m20.sqlite', timezone: 'UTC', mappings: [] }, { copies: 20, replace: true });
  console.log('sqlite load copies=20', r.durationMs, 'ms');
}, 600000);
