// `fhir-bridge serve` on a port another process holds: a usage error naming the port and the way out, and
// nothing left running (the job store and the source are closed).
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UsageError } from '../options.js';
import { serve } from './serve.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'serve-port-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

it('a port in use is a usage error that says how to pick another', async () => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  const { port } = holder.address() as AddressInfo;
  try {
    const attempt = serve({ port: String(port), host: '127.0.0.1', open: true, dataDir, inProcess: true }, {});
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use: choose another with --port`);
  } finally {
    holder.close();
  }
}, 120_000);
