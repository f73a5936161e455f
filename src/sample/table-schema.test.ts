import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadCsv } from './load-csv.js';
import { parseTableSchema } from './table-schema.js';

const SCHEMA = `tables:
  person:
    columns: { person_id: int, birth_datetime: ts, weight: num }
    primaryKey: [person_id]
  visit:
    file: VISITS_2024.csv
    columns: { visit_id: int, person_id: int, note: text }
    indexes: [[person_id]]
`;

function errorOf(text: string): string {
  try {
    parseTableSchema(text, 'tables.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('table schema files', () => {
  it('reads tables in order, with kinds, keys, indexes and file names', () => {
    const schema = parseTableSchema(SCHEMA, 'tables.yaml');
    expect(schema.tables.map((t) => t.name)).toEqual(['person', 'visit']);
    expect(schema.tables[0]!.columns).toEqual([
      { name: 'person_id', kind: 'int' },
      { name: 'birth_datetime', kind: 'ts' },
      { name: 'weight', kind: 'num' },
    ]);
    expect(schema.tables[0]!.primaryKey).toEqual(['person_id']);
    expect(schema.tables[1]).toMatchObject({ file: 'VISITS_2024.csv', indexes: [['person_id']] });
  });

  it('locates mistakes at file:line:col', () => {
    expect(errorOf(SCHEMA.replace('weight: num', 'weight: float'))).toBe(
      'tables.yaml:3:60: table person, column weight: kind "float" is not one of int, bigint, num, str, text, date, ts',
    );
    expect(errorOf(SCHEMA.replace('primaryKey: [person_id]', 'primaryKey: [id]'))).toMatch(
      /^tables\.yaml:4:18: table person: primaryKey names "id", which is not one of its columns/,
    );
    expect(errorOf(SCHEMA.replace('indexes:', 'index:'))).toMatch(/^tables\.yaml:8:5: table visit: unknown key "index"/);
    expect(errorOf('tables: {}')).toMatch(/no tables/);
  });
});

describe('loadCsv into SQLite', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'load-csv-'));
    await writeFile(path.join(dir, 'PERSON.csv.gz'), gzipSync('weight,person_id,birth_datetime\n48.10,1,2000-01-02 03:04:05\n,2,\n'));
    await writeFile(path.join(dir, 'VISITS_2024.csv'), 'visit_id,person_id,note\n10,1,"a, quoted note"\n11,2,\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates typed tables with keys and indexes, whatever the column order and file name case', async () => {
    const file = path.join(dir, 'db.sqlite');
    const config = { file: path.join(dir, 'c.yaml'), name: 't', kind: 'sqlite' as const, path: file, timezone: 'UTC', mappings: [] };
    const result = await loadCsv(config, parseTableSchema(SCHEMA, 'tables.yaml'), { folder: dir });
    expect(result.tables).toEqual({ person: 2, visit: 2 });
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('select person_id, birth_datetime, weight from person order by person_id').all()).toEqual([
        { person_id: 1, birth_datetime: '2000-01-02 03:04:05', weight: 48.1 },
        { person_id: 2, birth_datetime: null, weight: null },
      ]);
      expect(db.prepare('select note from visit where visit_id = 10').get()).toEqual({ note: 'a, quoted note' });
      const indexes = db.prepare("select name from sqlite_master where type = 'index' and tbl_name = 'visit'").all();
      expect(indexes).toContainEqual({ name: 'visit_person_id_idx' });
      await expect(loadCsv(config, parseTableSchema(SCHEMA, 'tables.yaml'), { folder: dir })).rejects.toThrow(/already exist.*--replace/);
    } finally {
      db.close();
    }
  });

  it('refuses a file whose columns differ from the schema, naming them', async () => {
    const config = {
      file: path.join(dir, 'c.yaml'),
      name: 't',
      kind: 'sqlite' as const,
      path: path.join(dir, 'db2.sqlite'),
      timezone: 'UTC',
      mappings: [],
    };
    const schema = parseTableSchema(SCHEMA.replace('note: text', 'comment: text'), 'tables.yaml');
    await expect(loadCsv(config, schema, { folder: dir })).rejects.toThrow(
      /table visit: .*VISITS_2024\.csv.*missing comment; not in the schema: note/,
    );
  });
});
