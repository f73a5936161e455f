// How a mapping with child queries waits for a database server: a batch's child queries run at the same time,
// and the next batch's start while the batch before is mapped and written; the resources, their order and a
// retry after a lost connection are those of one query at a time. A source read in this process keeps one
// query at a time.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Row, SourceQuery, StreamOptions } from '../connectors/types.js';
import { ConnectorError } from '../errors.js';
import type { FhirResource } from '../mapping/types.js';
import { FakeAdapter, fakeMapping, MemorySink, mappingSet } from '../../test/support/pipeline-fakes.js';
import { runExport } from './run-export.js';

const parents: Row[] = Array.from({ length: 12 }, (_, i) => ({ id: `c${String(i).padStart(2, '0')}` }));
const lines: Row[] = parents.flatMap((p, i) => [1, 2].map((n) => ({ claim: p.id, n, amount: i * 10 + n })));
const notes: Row[] = parents.map((p) => ({ claim: p.id, text: `note of ${String(p.id)}` }));

const mapping = fakeMapping({
  name: 'claim',
  table: 'claims',
  resourceTypes: ['Claim'],
  children: [
    { name: 'lines', query: { table: 'lines' }, on: [{ child: 'claim', parent: 'id' }], orderBy: ['n'] },
    { name: 'notes', query: { table: 'notes' }, on: [{ child: 'claim', parent: 'id' }], orderBy: [] },
  ],
  map: (row, children) => ({
    resources: [
      {
        resourceType: 'Claim',
        id: String(row.id),
        item: children!.lines!.map((l) => ({ sequence: l.n, net: { value: l.amount } })),
        text: children!.notes!.map((n) => n.text).join(),
      } as unknown as FhirResource,
    ],
    issues: [],
  }),
});

/** A fake database: each child query takes `delayMs` before its first row; events name what starts and ends. */
class SlowChildren extends FakeAdapter {
  readonly events: string[] = [];
  childReads = 0;
  constructor(
    dialect: string,
    private readonly delayMs: number,
    /** the child reads (0-based) that fail with a lost connection */
    private readonly failing: number[] = [],
  ) {
    super({ claims: parents, lines, notes });
    (this as { dialect: string }).dialect = dialect;
  }
  override async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    if (query.table === 'claims') return yield* super.stream(query, options);
    const read = this.childReads++;
    const first = (query.where?.find((f) => f.op === 'in')?.value as string[] | undefined)?.[0];
    this.events.push(`start ${query.table} ${first}`);
    await sleep(this.delayMs);
    if (this.failing.includes(read)) throw new ConnectorError('fake: Connection terminated unexpectedly', { transient: true });
    yield* super.stream(query, options);
    this.events.push(`end ${query.table} ${first}`);
  }
}

/** A sink that records, in the adapter's events, each resource written (and takes a moment to write it). */
class RecordingSink extends MemorySink {
  constructor(private readonly events: string[]) {
    super();
  }
  override async write(resource: FhirResource): Promise<void> {
    await sleep(2);
    this.events.push(`write ${resource.id}`);
    await super.write(resource);
  }
}

async function exportWith(adapter: SlowChildren): Promise<{ resources: FhirResource[]; events: string[] }> {
  const sink = new RecordingSink(adapter.events);
  await runExport({
    adapter,
    mappings: mappingSet(mapping),
    sink,
    batchSize: 4,
    retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 2 },
  });
  return { resources: sink.resources, events: adapter.events };
}

describe('child rows from a database server', () => {
  it("runs a batch's child queries at once, and the next batch's while this one is written", async () => {
    const { resources, events } = await exportWith(new SlowChildren('postgres', 30));
    // both children of the first batch started before either ended
    expect(events.slice(0, 2).sort()).toEqual(['start lines c00', 'start notes c00']);
    // the second batch's child queries began before the first batch's last resource was written
    expect(events.indexOf('start lines c04')).toBeLessThan(events.indexOf('write c03'));
    expect(events.indexOf('start lines c08')).toBeLessThan(events.indexOf('write c07'));
    // and the resources are those of one query at a time, in the parents' order
    const sequential = await exportWith(new SlowChildren('sqlite', 1));
    expect(resources).toEqual(sequential.resources);
    expect(resources.map((r) => r.id)).toEqual(parents.map((p) => p.id));
  });

  it('reads the query again after a lost connection in a batch read ahead: every parent once, in order', async () => {
    // child reads 0-1: batch 1; 2-3: batch 2 (read while batch 1 is written); read 5 (batch 3's notes) is lost
    const adapter = new SlowChildren('postgres', 5, [5]);
    const { resources, events } = await exportWith(adapter);
    expect(resources.map((r) => r.id)).toEqual(parents.map((p) => p.id));
    expect(resources).toEqual((await exportWith(new SlowChildren('sqlite', 1))).resources);
    // batch 3 was read twice; batches 1 and 2 once
    expect(events.filter((e) => e === 'start notes c08')).toHaveLength(2);
    expect(events.filter((e) => e === 'start notes c04')).toHaveLength(1);
    expect(events.filter((e) => e === 'write c04')).toHaveLength(1);
  });

  it('stops on a permanent failure of a batch read ahead, leaving no query running', async () => {
    class Broken extends SlowChildren {
      override async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
        const first = (query.where?.find((f) => f.op === 'in')?.value as string[] | undefined)?.[0];
        if (query.table === 'lines' && first === 'c04') throw new ConnectorError('fake: relation "lines" does not exist');
        yield* super.stream(query, options);
      }
    }
    const adapter = new Broken('postgres', 20);
    await expect(exportWith(adapter)).rejects.toThrow(/relation "lines" does not exist/);
    // every query that started also ended before the export failed
    const started = adapter.events.filter((e) => e.startsWith('start ')).map((e) => e.slice(6));
    const ended = adapter.events.filter((e) => e.startsWith('end ')).map((e) => e.slice(4));
    expect(ended.sort()).toEqual(started.sort());
  });
});

describe('child rows from a source read in this process', () => {
  it('reads one child query at a time, after the batch before is written', async () => {
    const { events } = await exportWith(new SlowChildren('sqlite', 5));
    const queries = events.filter((e) => !e.startsWith('write '));
    for (let i = 0; i < queries.length; i += 2) expect(queries[i]!.replace('start', 'end')).toBe(queries[i + 1]);
    expect(events.indexOf('write c03')).toBeLessThan(events.indexOf('start lines c04'));
  });
});
