// Every shipped mapping set's export, byte for byte: the SHA-256 of each NDJSON file the default Synthea
// connector (US Core + CARIN BB), the CMS RIF connector and each CMS RIF test variant write is compared with
// export-hashes.json. A refactor of the engine, the mappings or an adapter must keep these identical; a
// change that is meant to alter output regenerates the file (UPDATE_EXPORT_HASHES=1 npx vitest run test/golden)
// and the diff of export-hashes.json shows which files it touched.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSource } from '../../src/pipeline/open-source.js';
import { runExport } from '../../src/pipeline/run-export.js';
import { createNdjsonSink } from '../../src/sinks/ndjson-sink.js';
import { ROOT, connectorWith } from '../claims/export-helper.js';

const HASHES_FILE = path.join(import.meta.dirname, 'export-hashes.json');
const UPDATE = process.env.UPDATE_EXPORT_HASHES === '1';
const RIF = path.join(ROOT, 'connectors/cms-ccw-rif.yaml');
const FIXTURES = path.join(ROOT, 'test/fixtures/cms-ccw-rif');

/** case name → connector file (or a RIF variant: table → fixture file) */
const CASES: Record<string, { connector: string; rifOverrides?: Record<string, string> }> = {
  'synthea-sqlite': { connector: path.join(ROOT, 'connectors/synthea-sqlite.yaml') },
  'cms-ccw-rif': { connector: RIF },
  'cms-ccw-rif/bcarrier-multiple-lines': { connector: RIF, rifOverrides: { bcarrier: 'sample-a-bcarrier-multiple-lines.txt' } },
  'cms-ccw-rif/beneficiaries-with-backslash': {
    connector: RIF,
    rifOverrides: { beneficiaries: 'sample-a-beneficiaries-with-backslash.txt' },
  },
  'cms-ccw-rif/beneficiaries-without-reference-year': {
    connector: RIF,
    rifOverrides: { beneficiaries: 'sample-a-beneficiaries-without-reference-year.txt' },
  },
  'cms-ccw-rif/multiple-entries-same-bene': { connector: RIF, rifOverrides: { beneficiaries: 'sample-a-multiple-entries-same-bene.txt' } },
  'cms-ccw-rif/inpatient-four-character-drg': {
    connector: RIF,
    rifOverrides: { inpatient: 'sample-a-inpatient-with-four-character-drg-code.txt' },
  },
  'cms-ccw-rif/snf-four-character-drg': { connector: RIF, rifOverrides: { snf: 'sample-a-snf-with-four-character-drg-code.txt' } },
};

type Hashes = Record<string, Record<string, string>>;
const expected: Hashes = existsSync(HASHES_FILE) ? (JSON.parse(await readFile(HASHES_FILE, 'utf8')) as Hashes) : {};
const actual: Hashes = {};
const cleanups: Array<() => Promise<void>> = [];

/** Exports a connector to NDJSON files and returns file name → SHA-256 of its bytes. */
async function exportHashes(connectorFile: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'golden-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const source = await openSource(connectorFile);
  try {
    await runExport({ adapter: source.adapter, mappings: source.mappings, sink: createNdjsonSink({ dir }) });
  } finally {
    await source.close();
  }
  const hashes: Record<string, string> = {};
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort()) {
    hashes[name] = createHash('sha256')
      .update(await readFile(path.join(dir, name)))
      .digest('hex');
  }
  return hashes;
}

describe('shipped mapping sets export byte-identically to test/golden/export-hashes.json', () => {
  afterAll(async () => {
    for (const c of cleanups) await c();
    if (UPDATE) await writeFile(HASHES_FILE, JSON.stringify(actual, null, 2) + '\n');
  });

  it.each(Object.keys(CASES))(
    '%s',
    async (name) => {
      const c = CASES[name]!;
      let connector = c.connector;
      if (c.rifOverrides) {
        const variant = await connectorWith(
          c.connector,
          Object.fromEntries(Object.entries(c.rifOverrides).map(([t, f]) => [t, path.join(FIXTURES, f)])),
        );
        cleanups.push(variant.cleanup);
        connector = variant.file;
      }
      actual[name] = await exportHashes(connector);
      expect(Object.keys(actual[name]!).length).toBeGreaterThan(0);
      if (!UPDATE)
        expect(actual[name], `export of ${name} (UPDATE_EXPORT_HASHES=1 regenerates after an intended change)`).toEqual(expected[name]);
    },
    120_000,
  );
});
