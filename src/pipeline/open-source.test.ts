// Opening a connector for an export builds the shipped sample it names on first use; the adapter itself
// only reads (src/connectors/dialects/sqlite.test.ts checks that side).
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../test/support/collect-rows.js';
import { openAdapter } from '../connectors/index.js';
import { scratchConnector } from '../../test/support/scratch-connector.js';
import { sampleFolder } from '../sample/load-sample.js';
import { openSourceAdapter } from './open-source.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'sqlite', (dir) => path.join(dir, 'unused.sqlite'));

describe('openSourceAdapter on a sqlite connector with sample: synthea', () => {
  it('builds the database on first open (via a temporary file), with the same data as the CSV files', async () => {
    const file = path.join(tmp.dir, 'nested', 'synthea.sqlite');
    const sqlite = await openSourceAdapter(tmp.config({ path: file, sample: 'synthea' }));
    const csv = await openAdapter({ ...tmp.config(), kind: 'csv', path: sampleFolder() });
    try {
      expect(existsSync(file)).toBe(true);
      expect((await readdir(path.dirname(file))).filter((f) => f.includes('building'))).toEqual([]);
      const q = { table: 'encounters', where: [{ column: 'patient', op: '=' as const, value: 'b37f7960-7e9e-f3f7-f891-79ae4f632406' }] };
      const fromSqlite = await collect(sqlite.stream({ ...q, orderBy: ['id'] }));
      const fromCsv = await collect(csv.stream({ ...q, orderBy: ['id'] }));
      expect(fromSqlite.length).toBe(fromCsv.length);
      expect(fromSqlite.map((r) => [r.id, r.start, r.stop])).toEqual(fromCsv.map((r) => [r.id, r.start, r.stop]));
      expect(fromSqlite.map((r) => Number(r.total_claim_cost))).toEqual(fromCsv.map((r) => Number(r.total_claim_cost)));
    } finally {
      await sqlite.close();
      await csv.close();
    }
  }, 60_000);

  it('leaves a connector without a sample alone', async () => {
    const file = path.join(tmp.dir, 'plain.sqlite');
    const sqlite = await openSourceAdapter(tmp.config({ path: file }));
    try {
      expect(existsSync(file)).toBe(false);
    } finally {
      await sqlite.close();
    }
  });
});
