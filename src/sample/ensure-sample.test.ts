import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectorConfig } from '../connectors/types.js';
import { builtVersion, ensureSampleDatabase } from './ensure-sample.js';
import { SYNTHEA_SCHEMA_VERSION } from './synthea-schema.js';

let dir: string;
let config: ConnectorConfig;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fhir-bridge-ensure-'));
  config = {
    file: path.join(dir, 'c.yaml'),
    name: 'sample',
    kind: 'sqlite',
    path: path.join(dir, 'sample.sqlite'),
    sample: 'synthea',
    timezone: 'UTC',
    mappings: [],
  };
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const count = (sql: string) => {
  const db = new Database(config.path!, { readonly: true });
  try {
    return Number(db.prepare(sql).pluck().get());
  } finally {
    db.close();
  }
};

describe('ensureSampleDatabase', () => {
  it('builds the sample on first use and records its schema version', async () => {
    await ensureSampleDatabase(config);
    expect(builtVersion(config.path!)).toBe(SYNTHEA_SCHEMA_VERSION);
    expect(count('select count(*) from patients')).toBe(11);
  }, 60_000);

  it('rebuilds a database left by an older version (no version, an index missing)', async () => {
    const indexes = count("select count(*) from sqlite_master where type = 'index' and sql is not null");
    expect(indexes).toBeGreaterThan(0);
    const db = new Database(config.path!);
    const name = db.prepare("select name from sqlite_master where type = 'index' and sql is not null limit 1").pluck().get() as string;
    db.exec(`drop index ${name}; pragma user_version = 0;`);
    db.close();
    expect(builtVersion(config.path!)).toBe(0);

    await ensureSampleDatabase(config);
    expect(builtVersion(config.path!)).toBe(SYNTHEA_SCHEMA_VERSION);
    expect(count("select count(*) from sqlite_master where type = 'index' and sql is not null")).toBe(indexes);
  }, 60_000);

  it('leaves a current database alone', async () => {
    const db = new Database(config.path!);
    db.exec('create table marker (x integer)');
    db.close();
    await ensureSampleDatabase(config);
    expect(count("select count(*) from sqlite_master where name = 'marker'")).toBe(1);
  });
});
