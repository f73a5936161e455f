import { describe, expect, it } from 'vitest';
import type { Row, SourceAdapter, SourceQuery } from '../connectors/types.js';
import { keyRanges, sliceRun } from './key-ranges.js';
import type { MappingRun } from './plan.js';

/** An adapter over `n` rows with keys 0..n-1 (and wide other columns), recording the queries it is sent. */
function recordingAdapter(n: number): { adapter: SourceAdapter; queries: SourceQuery[] } {
  const queries: SourceQuery[] = [];
  const adapter = {
    dialect: 'postgres',
    async *stream(query: SourceQuery): AsyncIterable<Row> {
      queries.push(query);
      const limit = Math.min(n, query.limit ?? n);
      for (let id = 0; id < limit; id++) {
        const row: Row = { id };
        // what a database returns: only the columns asked for, else all of them
        if (!query.columns) Object.assign(row, { name: `patient ${id}`, note: 'x'.repeat(200) });
        yield row;
      }
    },
  } as unknown as SourceAdapter;
  return { adapter, queries };
}

const run = { mapping: { name: 'patient', source: { key: ['id'] } }, queries: [{ table: 'patients' }] } as unknown as MappingRun;

describe('keyRanges', () => {
  it('reads only the key column to probe and sample a run, ordered by the key', async () => {
    const { adapter, queries } = recordingAdapter(100_000);
    const ranges = await keyRanges(run, { adapter, partsPerRun: 4, minRowsPerPart: 10_000 });
    expect(queries).toHaveLength(2);
    for (const q of queries) expect(q).toMatchObject({ table: 'patients', columns: ['id'] });
    expect(queries[0]!.limit).toBe(20_000);
    expect(queries[1]!.orderBy).toEqual(['id']);
    // four ranges of about a quarter of the keys each, covering them all
    expect(ranges).toHaveLength(4);
    expect(ranges![0]).toEqual({ column: 'id', to: ranges![1]!.from });
    expect(ranges![3]!.to).toBeUndefined();
    for (const [i, r] of ranges!.slice(1).entries()) expect(Math.abs(Number(r.from) - (i + 1) * 25_000)).toBeLessThan(100);
  });

  it('keeps a small run whole after the probe, and the parts read every column', async () => {
    const { adapter, queries } = recordingAdapter(15_000);
    expect(await keyRanges(run, { adapter, partsPerRun: 4, minRowsPerPart: 10_000 })).toBeUndefined();
    expect(queries).toHaveLength(1);
    const part = sliceRun(run, { column: 'id', from: 10, to: 20 });
    expect(part.queries[0]).toEqual({
      table: 'patients',
      where: [
        { column: 'id', op: '>=', value: 10 },
        { column: 'id', op: '<', value: 20 },
      ],
      orderBy: ['id'],
    });
  });
});
