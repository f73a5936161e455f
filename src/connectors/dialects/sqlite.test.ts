import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../errors.js';
import { collect } from '../../../test/support/collect-rows.js';
import { openAdapter } from '../index.js';
import { scratchConnector } from '../../../test/support/scratch-connector.js';
import type { SourceAdapter } from '../types.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'sqlite', (dir) => path.join(dir, 'test.sqlite'));
const config = tmp.config;

beforeAll(async () => {
  const db = new Database(path.join(tmp.dir, 'test.sqlite'));
  db.exec(`create table Person (Id integer primary key, Name text, Big integer, Born text, Score real);
           create table visit (id integer primary key, person integer, day text);`);
  const person = db.prepare('insert into Person values (?, ?, ?, ?, ?)');
  person.run(1, 'Ann', 9007199254740993n, '1982-01-02T03:04:05Z', 1.5);
  person.run(2, 'Bob', 7, null, null);
  person.run(3, 'Cy', null, '2001-02-03', 0);
  const visit = db.prepare('insert into visit values (?, ?, ?)');
  for (let i = 1; i <= 300; i++) visit.run(i, (i % 3) + 1, `2020-01-${String((i % 28) + 1).padStart(2, '0')}`);
  db.close();
});

describe('sqlite adapter', () => {
  let adapter: SourceAdapter;
  beforeAll(async () => {
    adapter = await openAdapter(config());
  });
  afterAll(() => adapter.close());

  it('streams rows with lower-cased keys; integers beyond 2^53 as exact strings', async () => {
    expect(await collect(adapter.stream({ table: 'person', orderBy: ['id'] }))).toEqual([
      { id: 1, name: 'Ann', big: '9007199254740993', born: '1982-01-02T03:04:05Z', score: 1.5 },
      { id: 2, name: 'Bob', big: 7, born: null, score: null },
      { id: 3, name: 'Cy', big: null, born: '2001-02-03', score: 0 },
    ]);
  });

  it('pushes filters, order and limit into SQL and wraps sql sources', async () => {
    const rows = await collect(
      adapter.stream({
        sql: { sqlite: 'select p.name, count(*) as n from visit v join person p on p.id = v.person group by p.name', default: 'nope' },
        where: [{ column: 'NAME', op: 'in', value: ['Ann', 'Cy'] }],
        orderBy: ['name desc'],
        limit: 1,
      }),
    );
    expect(rows).toEqual([{ name: 'Cy', n: 100 }]);
  });

  it('serves child queries while a parent scan is open, and break closes the scan', async () => {
    let children = 0;
    for await (const p of adapter.stream({ table: 'person' })) {
      children += (await collect(adapter.stream({ table: 'visit', where: [{ column: 'person', op: 'in', value: [p.id] }] }))).length;
    }
    expect(children).toBe(300);
    for await (const _v of adapter.stream({ table: 'visit' })) break;
    expect(await collect(adapter.stream({ table: 'visit', limit: 2 }))).toHaveLength(2);
  });

  it('lists columns lower-cased and reports SQL errors as ConnectorError naming the table', async () => {
    expect(await adapter.columns({ table: 'Person' })).toEqual(['id', 'name', 'big', 'born', 'score']);
    const err = await collect(adapter.stream({ table: 'nope' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(/table nope.*no such table/);
  });

  it('reports a missing database file clearly', async () => {
    const missing = await openAdapter(config({ path: path.join(tmp.dir, 'missing.sqlite') }));
    await expect(missing.ping()).rejects.toThrow(/does not exist/);
  });
});

describe('sqlite connector with sample: synthea', () => {
  it('is only read by the adapter: building the sample is left to whoever opens it for an export', async () => {
    const file = path.join(tmp.dir, 'not-built', 'synthea.sqlite');
    const sqlite = await openAdapter(config({ path: file, sample: 'synthea' }));
    try {
      await expect(sqlite.ping()).rejects.toThrow(/does not exist/);
      expect(existsSync(file)).toBe(false);
    } finally {
      await sqlite.close();
    }
  });
});
