import { it } from 'vitest';
import { rm } from 'node:fs/promises';
import { openSource } from '../../pipeline/open-source.js';
import { runExport } from '../../pipeline/run-export.js';
import { createNdjsonSink } from '../../sinks/ndjson-sink.js';
it('dump', async () => {
  for (const [f, dir] of [['connectors/synthea-sqlite.yaml', '/tmp/cmp-sqlite'], ['connectors/synthea-duckdb.yaml', '/tmp/cmp-duck']] as const) {
    await rm(dir, { recursive: true, force: true });
    const s = await openSource(f);
    try { await runExport({ adapter: s.adapter, mappings: s.mappings, sink: createNdjsonSink({ dir }) }); } finally { await s.close(); }
  }
}, 300_000);
