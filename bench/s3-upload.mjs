// `npm run build && node bench/s3-upload.mjs [MiB]`: what publishing a finished job's file to an
// S3-compatible bucket costs the server, measured against s3rver in a child process (so the RSS measured
// is the uploader's alone): upload MiB/s and the server's peak RSS growth during the upload (bounded by
// files × parts in flight × part size, not by the file size), then download MiB/s through the store (what
// GET /files streams) and through a pre-signed URL. Default file: 256 MiB. s3rver keeps objects on local
// disk, so the rates are those of this machine's loopback and disk, useful as ratios, not as AWS figures.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { S3FileStore } from '../dist/storage/s3-store.js';

const MIB = 1024 * 1024;
const size = Number(process.argv[2] ?? 256) * MIB;
const root = await mkdtemp(join(tmpdir(), 'fhir-bridge-s3-bench-'));
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

// s3rver in its own process; it prints its port
const server = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import S3rver from 's3rver';
     const s = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(join(root, 's3'))} });
     const { port } = await s.run();
     console.log(port);`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
);
const [portLine] = await once(server.stdout, 'data');
const endpoint = `http://127.0.0.1:${String(portLine).trim()}`;

try {
  const store = new S3FileStore({ bucket: 'bench', prefix: '', dataDir: root, endpoint, forcePathStyle: true, credentials });
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  await store.client.send(new CreateBucketCommand({ Bucket: 'bench' }));

  // one NDJSON-like file of the requested size, written with backpressure
  await mkdir(store.jobDir('job'), { recursive: true });
  const out = createWriteStream(join(store.jobDir('job'), 'Observation.000001.ndjson'));
  const line = Buffer.from(
    `${JSON.stringify({ resourceType: 'Observation', id: 'x'.repeat(36), status: 'final', note: 'y'.repeat(400) })}\n`,
  );
  for (let written = 0; written < size; written += line.length) if (!out.write(line)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');

  globalThis.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  let t = performance.now();
  await store.publish('job', ['Observation.000001.ndjson']);
  const upload = (performance.now() - t) / 1000;
  clearInterval(sampler);

  t = performance.now();
  let got = 0;
  for await (const chunk of await store.open('job', 'Observation.000001.ndjson')) got += chunk.length;
  const viaStore = (performance.now() - t) / 1000;

  t = performance.now();
  const res = await fetch(await store.presign('job', 'Observation.000001.ndjson', 60));
  let fetched = 0;
  for await (const chunk of res.body) fetched += chunk.length;
  const viaUrl = (performance.now() - t) / 1000;

  const mib = (n) => (n / MIB).toFixed(0);
  console.log(`file                         ${mib(size)} MiB`);
  console.log(
    `upload (publish)             ${(size / MIB / upload).toFixed(0)} MiB/s, ${upload.toFixed(1)} s; peak RSS +${mib(peak - baseline)} MiB over ${mib(baseline)} MiB`,
  );
  console.log(`download through the store   ${(got / MIB / viaStore).toFixed(0)} MiB/s (${mib(got)} MiB)`);
  console.log(`download by pre-signed URL   ${(fetched / MIB / viaUrl).toFixed(0)} MiB/s (${mib(fetched)} MiB)`);
  await store.remove('job');
  store.close();
} finally {
  server.kill();
  await rm(root, { recursive: true, force: true });
}
