// `load-sample` into a database that does not exist: one located sentence saying to create it first, exit 1,
// and no stack trace anywhere (knex would print its failed pool acquisition to the console by itself).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryIo } from '../io.js';
import { loadSampleCommand } from './load-sample.js';

const servers = [
  { kind: 'postgres', url: process.env.TEST_POSTGRES_URL },
  { kind: 'mysql', url: process.env.TEST_MARIADB_URL },
];

describe.each(servers)('load-sample into a missing $kind database', ({ kind, url }) => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fb-load-missing-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!url)('says to create it first, exit 1, no stack trace', async () => {
    const name = `fb_missing_${randomBytes(4).toString('hex')}`; // never created
    const target = new URL(url!);
    target.pathname = `/${name}`;
    const file = join(dir, `${kind}.yaml`);
    await writeFile(file, `name: missing\nkind: ${kind}\nconnection: ${JSON.stringify(target.toString())}\ntimezone: UTC\nmappings: []\n`);
    const printed = [vi.spyOn(console, 'log'), vi.spyOn(console, 'warn'), vi.spyOn(console, 'error')];
    try {
      const io = memoryIo();
      expect(await loadSampleCommand({ into: file }, io)).toBe(1);
      const stderr = io.stderr.join('\n');
      expect(stderr).toContain(`error: missing: the database ${name} does not exist on `);
      expect(stderr).toContain(`create it first (CREATE DATABASE ${name};)`);
      expect(stderr).not.toMatch(/\n\s+at /);
      for (const spy of printed) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of printed) spy.mockRestore();
    }
  });
});
