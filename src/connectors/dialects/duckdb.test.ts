// The DuckDB source: the shipped Synthea sample exported through it (from the CSV folder, and from Parquet
// files written here) against the SQLite export of the same sample, then the adapter's own behaviour
// (filters over text columns, typed database files, abort, close, errors).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorError } from '../../errors.js';
import { loadMappingSet } from '../../mapping/index.js';
import { openSourceAdapter } from '../../pipeline/open-source.js';
import { runExport } from '../../pipeline/run-export.js';
import { locateTable, listTables } from '../csv-files.js';
import { collect } from '../../../test/support/collect-rows.js';
import { parseConnectorConfig } from '../config.js';
import { connectorsFolder, loadConnectorConfig, openAdapter } from '../index.js';
import { scratchConnector } from '../../../test/support/scratch-connector.js';
import { createNdjsonSink } from '../../sinks/ndjson-sink.js';
import type { ConnectorConfig, SourceAdapter } from '../types.js';
import { duckdbValue, type DuckdbAdapter } from './duckdb.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'duckdb', (dir) => dir);

/** Exports a connector (its mappings and groups) into a fresh folder; file name → SHA-256 and lines. */
async function exportOf(config: ConnectorConfig): Promise<Map<string, { sha: string; lines: string[] }>> {
  const dir = await mkdtemp(path.join(tmp.dir, 'export-'));
  const adapter = await openSourceAdapter(config);
  try {
    const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
    await runExport({ adapter, mappings, sink: createNdjsonSink({ dir }) });
  } finally {
    await adapter.close();
  }
  const files = new Map<string, { sha: string; lines: string[] }>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort()) {
    const lines = (await readFile(path.join(dir, name), 'utf8')).split('\n').map(withoutLastUpdated);
    files.set(name, { sha: createHash('sha256').update(lines.join('\n')).digest('hex'), lines });
  }
  return files;
}

/** meta.lastUpdated comes from SQLite's change-tracking column; files keep no change times: the rest must match. */
function withoutLastUpdated(line: string): string {
  if (line === '') return line;
  const resource = JSON.parse(line) as { meta?: Record<string, unknown> };
  if (resource.meta) {
    delete resource.meta.lastUpdated;
    if (Object.keys(resource.meta).length === 0) delete resource.meta;
  }
  return JSON.stringify(resource);
}

/** Every NDJSON file byte-identical (eob.yaml keeps claims.csv's order and days supply the same way on both). */
function expectSameExport(
  actual: Map<string, { sha: string; lines: string[] }>,
  expected: Map<string, { sha: string; lines: string[] }>,
): void {
  expect([...actual.keys()]).toEqual([...expected.keys()]);
  expect(expected.size).toBeGreaterThan(10);
  for (const [name, file] of expected) expect(actual.get(name)!.sha, name).toBe(file.sha);
}

describe('the Synthea sample through DuckDB', () => {
  let sqlite: Map<string, { sha: string; lines: string[] }>;
  let csvConfig: ConnectorConfig;
  beforeAll(async () => {
    const sqliteConfig = await loadConnectorConfig(path.join(connectorsFolder(), 'synthea-sqlite.yaml'));
    sqlite = await exportOf(sqliteConfig);
    csvConfig = await loadConnectorConfig(path.join(connectorsFolder(), 'synthea-duckdb.yaml'));
  }, 180_000);

  it('exports from the CSV folder what the SQLite sample exports', async () => {
    expect(csvConfig.kind).toBe('duckdb');
    expectSameExport(await exportOf(csvConfig), sqlite);
  }, 180_000);

  it('exports from Parquet files (written by DuckDB COPY) what the SQLite sample exports', async () => {
    const folder = { folder: csvConfig.path!, delimiter: csvConfig.delimiter };
    const parquet = await mkdtemp(path.join(tmp.dir, 'parquet-'));
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      for (const table of await listTables(folder)) {
        const { file } = await locateTable(folder, table);
        await conn.run(
          `copy (select * from read_csv('${file}', header = true, all_varchar = true)) to '${path.join(parquet, `${table}.parquet`)}' (format parquet)`,
        );
      }
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
    expect((await readdir(parquet)).filter((f) => f.endsWith('.parquet')).length).toBeGreaterThan(10);
    expectSameExport(await exportOf({ ...csvConfig, path: parquet, options: { format: 'parquet' } }), sqlite);
  }, 180_000);
});

describe('duckdb adapter', () => {
  let adapter: SourceAdapter;
  beforeAll(async () => {
    await writeFile(path.join(tmp.dir, 'people.csv'), 'Id,NAME,Age\n1,"Smith, Ann",42\n2,Bob,\n3,"",7\n10,Dee,100\n');
    const visits = ['ID,PERSON'];
    for (let i = 1; i <= 5000; i++) visits.push(`v${i},${(i % 3) + 1}`);
    await writeFile(path.join(tmp.dir, 'visits.csv'), visits.join('\n') + '\n');
    await writeFile(path.join(tmp.dir, 'PAT_2024.txt'), 'ID|STATE\n567834|MA\n');
    adapter = await openAdapter(tmp.config({ files: { beneficiaries: 'PAT_2024.txt' }, delimiter: undefined }));
  });
  afterAll(() => adapter.close());

  it('reads CSV as text with lower-cased names and null for empty fields', async () => {
    expect(await collect(adapter.stream({ table: 'People', orderBy: ['id'] }))).toEqual([
      { id: '1', name: 'Smith, Ann', age: '42' },
      { id: '10', name: 'Dee', age: '100' },
      { id: '2', name: 'Bob', age: null },
      { id: '3', name: null, age: '7' },
    ]);
    expect(await adapter.columns({ table: 'people' })).toEqual(['id', 'name', 'age']);
  });

  it('compares as the CSV connector does (numbers as numbers), with IN lists and limits pushed into SQL', async () => {
    const older = await collect(adapter.stream({ table: 'people', where: [{ column: 'age', op: '>', value: 9 }], limit: 5 }));
    expect(older.map((r) => r.id)).toEqual(['1', '10']);
    const some = await collect(adapter.stream({ table: 'people', where: [{ column: 'id', op: 'in', value: [2, '3'] }] }));
    expect(some.map((r) => r.id)).toEqual(['2', '3']);
    expect(await collect(adapter.stream({ table: 'visits', limit: 3 }))).toHaveLength(3);
    expect(await collect(adapter.stream({ sql: { postgres: 'select count(*) as n from visits', default: 'nope' } }))).toEqual([
      { n: 5000 },
    ]);
  });

  it("reads a file named in 'files' with its own delimiter guess", async () => {
    const delimited = await openAdapter(tmp.config({ files: { beneficiaries: 'PAT_2024.txt' }, delimiter: '|' }));
    try {
      expect(await collect(delimited.stream({ table: 'beneficiaries' }))).toEqual([{ id: '567834', state: 'MA' }]);
    } finally {
      await delimited.close();
    }
  });

  it('stops reading when the consumer stops or the signal aborts', async () => {
    let n = 0;
    for await (const _row of adapter.stream({ table: 'visits' })) if (++n === 10) break;
    expect(n).toBe(10);
    const controller = new AbortController();
    const reason = new Error('stop');
    const rows: unknown[] = [];
    const err = await (async () => {
      for await (const row of adapter.stream({ table: 'visits' }, { signal: controller.signal })) {
        rows.push(row);
        if (rows.length === 100) controller.abort(reason);
      }
    })().catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(rows).toHaveLength(100);
  });

  it('reports a missing table and a missing folder as ConnectorError', async () => {
    const err = await collect(adapter.stream({ table: 'nope' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(/table nope/);
    const missing = await openAdapter(tmp.config({ path: path.join(tmp.dir, 'missing') }));
    await expect(missing.ping()).rejects.toThrow(/cannot be read/);
  });

  it('removes its scratch database when closed', async () => {
    const own = (await openAdapter(tmp.config())) as DuckdbAdapter;
    await collect(own.stream({ table: 'people' }));
    const before = (await readdir(os.tmpdir())).filter((f) => f.startsWith('fhir-bridge-duckdb-'));
    await own.close();
    const after = (await readdir(os.tmpdir())).filter((f) => f.startsWith('fhir-bridge-duckdb-'));
    expect(before.length - after.length).toBe(1);
    await expect(collect(own.stream({ table: 'people' }))).rejects.toThrow(/closed/);
  });
});

describe('duckdb connector files', () => {
  it("need a 'path', resolved against the file like every other one", () => {
    expect(() => parseConnectorConfig('kind: duckdb\n', '/x/c.yaml', {})).toThrow(
      /a duckdb connector needs 'path' \(a folder of CSV or Parquet files/,
    );
    expect(parseConnectorConfig('kind: DuckDB\npath: data\noptions: { format: parquet }\n', '/x/c.yaml', {})).toMatchObject({
      kind: 'duckdb',
      path: '/x/data',
      options: { format: 'parquet' },
    });
  });
});

describe('duckdb adapter on a database file', () => {
  let file: string;
  let adapter: SourceAdapter;
  beforeAll(async () => {
    file = path.join(tmp.dir, 'typed.duckdb');
    const instance = await DuckDBInstance.create(file);
    const conn = await instance.connect();
    await conn.run(`create table Claim (Id integer, Amount decimal(12, 2), Day date, Seen timestamp, Big bigint, Note varchar);
      insert into Claim values (1, 12.50, '2020-01-02', '2020-01-02 03:04:05', 9007199254740993, null), (2, 3.00, '2021-01-01', '2021-01-01 00:00:00.5', 4, 'x')`);
    conn.closeSync();
    instance.closeSync();
    adapter = await openAdapter(tmp.config({ path: file }));
  });
  afterAll(async () => {
    await adapter.close();
    await rm(file, { force: true });
  });

  it('gives typed values the forms of the Row contract and pushes comparisons into SQL', async () => {
    expect(await collect(adapter.stream({ table: 'claim', where: [{ column: 'amount', op: '>', value: 10 }] }))).toEqual([
      { id: 1, amount: '12.50', day: '2020-01-02', seen: '2020-01-02 03:04:05', big: '9007199254740993', note: null },
    ]);
    const since = await collect(
      adapter.stream({ table: 'claim', where: [{ column: 'seen', op: '>=', value: new Date('2020-06-01T00:00:00Z') }] }),
    );
    expect(since.map((r) => r.id)).toEqual([2]);
    expect(existsSync(file)).toBe(true);
  });

  it('turns DuckDB values into portable ones', () => {
    expect(duckdbValue(5n)).toBe(5);
    expect(duckdbValue(null)).toBeNull();
    expect(duckdbValue('a')).toBe('a');
  });
});
