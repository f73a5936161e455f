import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { jobStoreContract, newJob } from '../../test/support/job-store-contract.js';
import { SqliteJobStore } from './job-store-sqlite.js';

jobStoreContract(it, expect, async () => {
  const store = new SqliteJobStore(':memory:');
  await store.init();
  return store;
});

it('keeps jobs in the file across store instances (a restart)', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'fhir-bridge-jobs-')), 'jobs.sqlite');
  const first = new SqliteJobStore(file);
  await first.init();
  await first.create(newJob('kept'));
  await first.start('kept', '2024-01-01T00:00:00.000Z');
  await first.close();
  const second = new SqliteJobStore(file);
  await second.init();
  expect(await second.get('kept')).toMatchObject({ status: 'running', attempts: 1 });
  await second.close();
});
