import { afterAll, beforeAll, expect, it } from 'vitest';
import { measurePollLatency, percentile } from './poll-latency.js';
import { fakeServer } from '../test/support/test-server.js';

let server: Awaited<ReturnType<typeof fakeServer>>;
let base: string;
beforeAll(async () => {
  server = await fakeServer();
  base = await server.listen(0, '127.0.0.1');
});
afterAll(async () => server?.close());

it('computes nearest-rank percentiles', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(sorted, 50)).toBe(50);
  expect(percentile(sorted, 99)).toBe(99);
  expect(percentile([7], 99)).toBe(7);
});

it('kicks off, polls until the manifest and reports latencies', async () => {
  const r = await measurePollLatency({ fhirBase: `${base}/fhir`, intervalMs: 1 });
  expect(r.polls).toBeGreaterThanOrEqual(1);
  expect(r.resources).toBe(7);
  expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
  expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
});
