import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../errors.js';
import type { CsvAdapter } from './csv-adapter.js';
import { collect } from '../../../test/support/collect-rows.js';
import { openAdapter } from '../index.js';
import { scratchConnector } from '../../../test/support/scratch-connector.js';
import type { SourceAdapter, SourceQuery } from '../types.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'csv', (dir) => dir);
const config = tmp.config;

beforeAll(async () => {
  await writeFile(
    path.join(tmp.dir, 'people.csv'),
    '\uFEFFId,NAME,Age,Born\n1,"Smith, Ann",42,1982-01-02T03:04:05Z\n2,Bob,,1990-05-06\n3,"Carl ""CJ"" Jones",7,\n',
  );
  const visits = ['ID,PERSON,DAY'];
  for (let i = 1; i <= 3000; i++) visits.push(`v${i},${(i % 3) + 1},2020-01-${String((i % 28) + 1).padStart(2, '0')}`);
  await writeFile(path.join(tmp.dir, 'visits.csv.gz'), gzipSync(visits.join('\n') + '\n'));
  await writeFile(path.join(tmp.dir, 'broken.csv'), 'A,B\n1,2\n3\n4,5\n');
  await writeFile(path.join(tmp.dir, 'badquote.csv'), 'A,B\n1,"unfinished\n');
  await writeFile(path.join(tmp.dir, 'notgzip.csv.gz'), 'A,B\n1,2\n');
  await writeFile(path.join(tmp.dir, 'tabs.tsv'), 'A\tB\nx\ty\n');
  // CMS RIF extracts end data rows (not the header) with a delimiter
  await writeFile(path.join(tmp.dir, 'BENE_2024.dat'), 'BENE_ID|STATE\n567834|MA|\n');
});

describe('csv adapter', () => {
  let adapter: SourceAdapter;
  beforeAll(async () => {
    adapter = await openAdapter(config());
  });
  afterAll(() => adapter.close());

  it('reads a file with lower-cased keys, quoted fields, a BOM, and null for empty fields', async () => {
    expect(await collect(adapter.stream({ table: 'People' }))).toEqual([
      { id: '1', name: 'Smith, Ann', age: '42', born: '1982-01-02T03:04:05Z' },
      { id: '2', name: 'Bob', age: null, born: '1990-05-06' },
      { id: '3', name: 'Carl "CJ" Jones', age: '7', born: null },
    ]);
  });

  it('gunzips .csv.gz and .tsv uses tabs', async () => {
    const visits = await collect(adapter.stream({ table: 'visits' }));
    expect(visits).toHaveLength(3000);
    expect(visits[0]).toEqual({ id: 'v1', person: '2', day: '2020-01-02' });
    expect(await collect(adapter.stream({ table: 'tabs' }))).toEqual([{ a: 'x', b: 'y' }]);
  });

  it('applies where filters and limit on a plain scan', async () => {
    const q = (where: SourceQuery['where'], limit?: number) => collect(adapter.stream({ table: 'people', where, limit }));
    expect((await q([{ column: 'AGE', op: '>', value: 10 }])).map((r) => r.id)).toEqual(['1']);
    expect((await q([{ column: 'age', op: '<', value: '10' }])).map((r) => r.id)).toEqual(['3']);
    expect((await q([{ column: 'age', op: 'is null' }])).map((r) => r.id)).toEqual(['2']);
    expect((await q([{ column: 'id', op: 'not in', value: ['1', 3] }])).map((r) => r.id)).toEqual(['2']);
    expect(
      (
        await q([
          { column: 'name', op: '!=', value: 'Bob' },
          { column: 'born', op: 'is not null' },
        ])
      ).map((r) => r.id),
    ).toEqual(['1']);
    expect((await q(undefined, 2)).map((r) => r.id)).toEqual(['1', '2']);
  });

  it('answers IN filters, ORDER BY and sql sources from a scratch SQLite copy', async () => {
    const children = await collect(
      adapter.stream({
        table: 'visits',
        where: [
          { column: 'person', op: 'in', value: ['1', '2'] },
          { column: 'day', op: '=', value: '2020-01-05' },
        ],
        orderBy: ['ID desc'],
      }),
    );
    expect(children.length).toBeGreaterThan(0);
    expect(children.every((r) => ['1', '2'].includes(r.person as string) && r.day === '2020-01-05')).toBe(true);
    expect(children.map((r) => r.id)).toEqual([...children.map((r) => r.id as string)].sort().reverse());
    const joined = await collect(
      adapter.stream({
        sql: { csv: 'select p.name, count(*) as visits from people p join visits v on v.person = p.id group by p.name', postgres: 'nope' },
        orderBy: ['name'],
      }),
    );
    expect(joined).toEqual([
      { name: 'Bob', visits: 1000 },
      { name: 'Carl "CJ" Jones', visits: 1000 },
      { name: 'Smith, Ann', visits: 1000 },
    ]);
    expect(await adapter.columns({ sql: 'select id as pid, name from people' })).toEqual(['pid', 'name']);
    // numeric comparisons mean the same on the staged path as on a plain scan ('7' < '10' as numbers)
    const young = await collect(adapter.stream({ table: 'people', where: [{ column: 'age', op: '<', value: 10 }], orderBy: ['id'] }));
    expect(young.map((r) => r.id)).toEqual(['3']);
    const limited = await collect(
      adapter.stream({
        table: 'visits',
        where: [
          { column: 'person', op: 'in', value: ['1'] },
          { column: 'id', op: '!=', value: 'v3' },
        ],
        orderBy: ['id'],
        limit: 2,
      }),
    );
    expect(limited.map((r) => r.id)).toEqual(['v1002', 'v1005']);
  });

  it('lets a parent scan and child look-ups run at the same time', async () => {
    let children = 0;
    for await (const person of adapter.stream({ table: 'people' })) {
      for await (const _v of adapter.stream({ table: 'visits', where: [{ column: 'person', op: 'in', value: [person.id] }] })) children++;
    }
    expect(children).toBe(3000);
  });

  it('lists columns from the header', async () => {
    expect(await adapter.columns({ table: 'people' })).toEqual(['id', 'name', 'age', 'born']);
  });

  it('stops at a malformed row with a ConnectorError naming file and line', async () => {
    const err = await collect(adapter.stream({ table: 'broken' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toContain(`${path.join(tmp.dir, 'broken.csv')}:3`);
    const quote = await collect(adapter.stream({ table: 'badquote' })).catch((e: unknown) => e);
    expect(quote).toBeInstanceOf(ConnectorError);
    expect((quote as Error).message).toContain('badquote.csv');
    const gz = await collect(adapter.stream({ table: 'notgzip' })).catch((e: unknown) => e);
    expect(gz).toBeInstanceOf(ConnectorError);
    expect((gz as Error).message).toContain('not a valid gzip file');
  });

  it('names the missing table and what the folder has', async () => {
    const err = await collect(adapter.stream({ table: 'nothere' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(/table nothere.*people/);
  });

  it('ends with the abort reason when the signal is aborted', async () => {
    const controller = new AbortController();
    let seen = 0;
    const run = async () => {
      for await (const _r of adapter.stream({ table: 'visits' }, { signal: controller.signal }))
        if (++seen === 10) controller.abort(new Error('enough'));
    };
    await expect(run()).rejects.toThrow('enough');
    expect(seen).toBe(10);
  });
});

describe('csv adapter options', () => {
  it("reads '|' files through the files map, and deletes its scratch database on close", async () => {
    const adapter = (await openAdapter(config({ delimiter: '|', files: { beneficiaries: 'BENE_2024.dat' } }))) as CsvAdapter;
    expect(await collect(adapter.stream({ table: 'beneficiaries' }))).toEqual([{ bene_id: '567834', state: 'MA' }]);
    expect(await adapter.scratchFolder()).toBeUndefined();
    expect(await collect(adapter.stream({ table: 'beneficiaries', orderBy: ['bene_id'] }))).toHaveLength(1);
    const scratch = await adapter.scratchFolder();
    expect(scratch && existsSync(scratch)).toBe(true);
    await adapter.close();
    expect(existsSync(scratch!)).toBe(false);
  });

  it('ping fails for a missing folder', async () => {
    const adapter = await openAdapter(config({ path: path.join(tmp.dir, 'missing') }));
    await expect(adapter.ping()).rejects.toBeInstanceOf(ConnectorError);
  });
});
