// Issue 9, "Done when": `--since` on a shipped mapping is pushed into SQL. The statements are taken where
// they leave for PostgreSQL (pg's Client.query: every statement and cursor the server receives), and the
// export after an unchanged database reads no row at all from the tables it filters.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { runExport } from '../../src/pipeline/run-export.js';
import type { ResourceSink } from '../../src/sinks/types.js';
import { TARGETS, type Target } from './targets.js';

const nullSink = (): ResourceSink => ({
  write: async () => undefined,
  writeError: async () => undefined,
  writeDeleted: async () => undefined,
  close: async () => ({ output: [], error: [] }),
  abort: async () => undefined,
});

const target = await TARGETS.postgres!();
if ('skip' in target) console.warn(`since-pushdown.int.test: ${target.skip}`);

describe.skipIf('skip' in target)('--since reaches PostgreSQL as SQL', () => {
  const t = target as Target;
  let source: OpenedSource;
  const statements: string[] = [];

  beforeAll(async () => {
    source = await openSource(t.connector);
    const query = pg.Client.prototype.query;
    vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const first = args[0] as string | { text?: string; cursor?: { text?: string } };
      statements.push(typeof first === 'string' ? first : (first.text ?? first.cursor?.text ?? ''));
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query);
  }, 600_000);

  afterAll(async () => {
    vi.restoreAllMocks();
    await source?.close();
    await t.close();
  });

  it('filters each table by its last-updated column and finds changed claim lines by a subquery', async () => {
    const full = await runExport({ adapter: source.adapter, mappings: source.mappings, sink: nullSink() });
    statements.length = 0;
    const since = await runExport({
      adapter: source.adapter,
      mappings: source.mappings,
      sink: nullSink(),
      since: new Date(full.transactionTime),
    });
    expect(statements).toContainEqual('select * from "encounters" where "last_updated" > $1');
    expect(statements).toContainEqual('select * from "conditions" where "last_updated" > $1');
    // the EOB: its claim row changed, or one of its lines (claims_transactions), or its encounter's procedures
    expect(statements).toContainEqual(expect.stringMatching(/^select \* from \(SELECT c\.\*,[\s\S]+\) src where "last_updated" > \$1$/));
    expect(statements).toContainEqual(
      expect.stringMatching(/src where "id" in \(select "claimid" from "claims_transactions" where "last_updated" > \$1\)$/),
    );
    expect(statements).toContainEqual(
      expect.stringMatching(/src where "appointmentid" in \(select "encounter" from "procedures" where "last_updated" > \$1\)$/),
    );
    // the tombstones, per mapping
    expect(statements).toContainEqual('select * from "deleted_rows" where "table_name" = $1 and "deleted_at" > $2');
    // and every statement ran in the export's snapshot
    expect(
      statements.filter((s) => s.startsWith('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT')).length,
    ).toBeGreaterThan(0);
    // nothing changed since the full export: not a row was read
    expect(Object.values(since.rowsRead).reduce((a, b) => a + b, 0)).toBe(0);
    expect(Object.values(full.rowsRead).reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
  }, 300_000);
});
