import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { testDatabase, type TestDatabase } from '../../test/support/databases.js';
import { jobStoreContract } from '../../test/support/job-store-contract.js';
import { PostgresJobStore } from './job-store-postgres.js';

const db = await testDatabase('postgres');

describe.skipIf('skip' in db)('PostgreSQL job store', () => {
  const database = db as TestDatabase;
  const schemas: string[] = [];
  afterAll(async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await client.end();
    await database.cleanup();
  });
  // each case gets a schema of its own, named after the file's private schema and dropped afterwards
  jobStoreContract(it, expect, async () => {
    const schema = `${database.schema}_jobs${schemas.length}`;
    schemas.push(schema);
    const store = new PostgresJobStore({ connectionString: database.url, schema });
    await store.init();
    return store;
  });
});

if ('skip' in db) it.skip(`PostgreSQL job store: ${(db as { skip: string }).skip}`, () => undefined);
