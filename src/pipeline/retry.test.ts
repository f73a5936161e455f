// How a mapping run survives a transient source failure: the rest of the query is read again and the rows
// already written are skipped (checked to be the same rows), a permanent failure is not retried, and a source
// that comes back in another order stops the export instead of writing duplicates. The real-database version
// (pg_terminate_backend, MariaDB KILL) is test/faults/source-lost.int.test.ts.
import { describe, expect, it } from 'vitest';
import type { Row, SourceQuery, StreamOptions } from '../connectors/types.js';
import { ConnectorError } from '../errors.js';
import { FakeAdapter, fakeMapping, MemorySink, mappingSet } from '../../test/support/pipeline-fakes.js';
import { runExport } from './run-export.js';

const rows: Row[] = Array.from({ length: 25 }, (_, i) => ({ id: `r${String(i).padStart(2, '0')}` }));
const mapping = fakeMapping({
  name: 'thing',
  table: 'thing',
  resourceTypes: ['Basic'],
  map: (row) => ({ resources: [{ resourceType: 'Basic', id: String(row.id) } as never], issues: [] }),
});
const FAST = { minTimeoutMs: 1, maxTimeoutMs: 2, retries: 2 };

/** A source whose n-th read (0-based) fails after `failAfter[n]` rows with `error`, and reads rows in `order(n)`. */
class FlakyAdapter extends FakeAdapter {
  reads = 0;
  constructor(
    private readonly failAfter: Array<number | undefined>,
    private readonly error: () => Error,
    private readonly order: (read: number) => Row[] = () => rows,
  ) {
    super({ thing: rows });
  }
  override async *stream(_query: SourceQuery, _options: StreamOptions = {}): AsyncIterable<Row> {
    const read = this.reads++;
    let n = 0;
    for (const row of this.order(read)) {
      if (n++ === this.failAfter[read]) throw this.error();
      await Promise.resolve();
      yield row;
    }
  }
}

const lost = () => new ConnectorError('fake: table thing: Connection terminated unexpectedly', { transient: true });

describe('a transient source failure', () => {
  it('re-reads the rest of the query: every row written once, in order', async () => {
    const adapter = new FlakyAdapter([12, 3], lost);
    const sink = new MemorySink();
    const summary = await runExport({ adapter, mappings: mappingSet(mapping), sink, batchSize: 5, retry: FAST });
    expect(adapter.reads).toBe(3);
    expect(sink.resources.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(summary.rowsRead).toEqual({ thing: 25 });
  });

  it('gives up after the retries with a located error, the sink aborted', async () => {
    const adapter = new FlakyAdapter([7, 0, 0], lost);
    const sink = new MemorySink();
    await expect(runExport({ adapter, mappings: mappingSet(mapping), sink, batchSize: 5, retry: FAST })).rejects.toThrow(
      /^mapping thing \(\/maps\/thing\.yaml:1:1, thing\): fake: table thing: Connection terminated unexpectedly \(gave up after 3 attempts\)$/,
    );
    expect(adapter.reads).toBe(3);
    expect(sink.aborted).toBe(true);
  });

  it('does not retry a permanent failure', async () => {
    const adapter = new FlakyAdapter([7], () => new ConnectorError('fake: table thing: relation "thing" does not exist'));
    await expect(runExport({ adapter, mappings: mappingSet(mapping), sink: new MemorySink(), retry: FAST })).rejects.toThrow(
      /does not exist$/,
    );
    expect(adapter.reads).toBe(1);
  });

  it('stops rather than duplicate when the re-read returns the rows in another order', async () => {
    const adapter = new FlakyAdapter([12], lost, (read) => (read === 0 ? rows : [...rows].reverse()));
    const sink = new MemorySink();
    await expect(runExport({ adapter, mappings: mappingSet(mapping), sink, batchSize: 5, retry: FAST })).rejects.toThrow(
      /the first 10 rows were not the ones already exported/,
    );
    expect(sink.aborted).toBe(true);
  });
});
