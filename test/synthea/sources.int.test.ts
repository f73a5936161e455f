// The same Synthea sample in SQLite, as CSV files (read directly and through DuckDB), in PostgreSQL and in
// MariaDB must export to the same bytes: every mapping set the shipped Synthea connectors list (US Core and
// CARIN BB), written by the NDJSON sink, each resource type's lines sorted. This is what proves the
// mappings' SQL (window functions, date arithmetic, casts), the id hashing and the engine's handling of
// driver values portable: the loader gives PostgreSQL and MariaDB real DATE/TIMESTAMP/NUMERIC columns and
// their drivers return BIGINT and NUMERIC as text, SQLite returns numbers and the CSV files give only text.
// PostgreSQL and MariaDB come from TEST_POSTGRES_URL / TEST_MARIADB_URL, each in a private schema/database
// (test/support/databases.ts); without them those parts are skipped with a message.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import type { ConnectorConfig } from '../../src/connectors/types.js';
import { loadMappingSet } from '../../src/mapping/index.js';
import { openSourceAdapter } from '../../src/pipeline/open-source.js';
import { runExport } from '../../src/pipeline/run-export.js';
import { loadSample } from '../../src/sample/load-sample.js';
import { createNdjsonSink } from '../../src/sinks/ndjson-sink.js';
import { testDatabase, type TestDatabase, type TestDatabaseKind } from '../support/databases.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SQLITE = await loadConnectorConfig(path.join(ROOT, 'connectors', 'synthea-sqlite.yaml'));
const CSV = await loadConnectorConfig(path.join(ROOT, 'connectors', 'synthea-csv.yaml'));
const DUCKDB = await loadConnectorConfig(path.join(ROOT, 'connectors', 'synthea-duckdb.yaml'));
/** every Synthea mapping set: those the shipped connectors list (mappings/synthea, mappings/synthea-claims) */
const MAPPINGS = SQLITE.mappings;

/** An export as NDJSON: file set (resource type, or OperationOutcome for row errors) → its lines, sorted. */
type SortedNdjson = Map<string, string[]>;

const scratch: string[] = [];

async function exportNdjson(config: ConnectorConfig): Promise<SortedNdjson> {
  const dir = await mkdtemp(path.join(tmpdir(), 'xsource-'));
  scratch.push(dir);
  const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
  const adapter = await openSourceAdapter(config);
  try {
    await runExport({ adapter, mappings, sink: createNdjsonSink({ dir }) });
  } finally {
    await adapter.close();
  }
  const out: SortedNdjson = new Map();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.ndjson')).sort()) {
    const type = name.split('.')[0]!;
    const lines = (await readFile(path.join(dir, name), 'utf8')).split('\n').filter((l) => l !== '');
    out.set(type, [...(out.get(type) ?? []), ...lines]);
  }
  for (const lines of out.values()) lines.sort();
  return out;
}

/** The first differing line, shown from a little before the first differing character. */
function firstDifference(reference: string[], other: string[]): string | undefined {
  for (let i = 0; i < Math.max(reference.length, other.length); i++) {
    const [a, b] = [reference[i] ?? '', other[i] ?? ''];
    if (a === b) continue;
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    const from = Math.max(0, at - 300);
    return `line ${i + 1}, character ${at + 1}\nsqlite: …${a.slice(from, at + 300)}\nother:  …${b.slice(from, at + 300)}`;
  }
  return undefined;
}

/** How many lines of `other` are not in `reference` (for a failure message that says how big the gap is). */
function differing(reference: string[], other: string[]): number {
  const ref = new Set(reference);
  return other.filter((l) => !ref.has(l)).length;
}

/**
 * The export without meta.lastUpdated: file sources keep no change times (CSV and DuckDB over CSV files have
 * no last-updated column), so they are compared with the databases on everything else.
 */
function withoutLastUpdated(ndjson: SortedNdjson): SortedNdjson {
  const out: SortedNdjson = new Map();
  for (const [type, lines] of ndjson) {
    const stripped = lines.map((line) => {
      const r = JSON.parse(line) as { meta?: { lastUpdated?: string } };
      if (r.meta) delete r.meta.lastUpdated;
      if (r.meta && Object.keys(r.meta).length === 0) delete r.meta;
      return JSON.stringify(r);
    });
    out.set(type, stripped.sort());
  }
  return out;
}

function expectSameAs(reference: SortedNdjson, got: SortedNdjson): void {
  expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
  for (const [type, lines] of reference) {
    const other = got.get(type) ?? [];
    const diff = firstDifference(lines, other);
    expect(diff && `${type}: ${differing(lines, other)} of ${other.length} lines differ, first at ${diff}`).toBeUndefined();
  }
}

let reference: SortedNdjson;
let csv: SortedNdjson;

beforeAll(async () => {
  reference = await exportNdjson(SQLITE);
  csv = await exportNdjson(CSV);
}, 300_000);

afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe('Synthea sample from SQLite (the reference)', () => {
  it('covers the whole sample, US Core and CARIN BB, without a row error', () => {
    expect(MAPPINGS.map((m) => path.basename(m))).toEqual(expect.arrayContaining(['synthea', 'synthea-claims']));
    expect(reference.get('OperationOutcome')).toBeUndefined();
    expect(reference.get('Patient')?.length).toBeGreaterThan(0);
    expect(reference.get('Observation')?.length).toBeGreaterThan(1000);
    // CARIN BB: one EOB and one Claim per claims.csv row, a Coverage per enrolment, the payers
    for (const type of ['ExplanationOfBenefit', 'Claim', 'Coverage']) expect(reference.get(type)?.length, type).toBeGreaterThan(100);
    expect(reference.get('ExplanationOfBenefit')?.length).toBe(reference.get('Claim')?.length);
  });
});

describe('Synthea sample from its CSV files', () => {
  it('exports byte-identical sorted NDJSON but meta.lastUpdated, which only databases track', () => {
    expectSameAs(withoutLastUpdated(reference), withoutLastUpdated(csv));
  });
});

describe('Synthea sample from its CSV files through DuckDB', () => {
  it('exports byte-identical sorted NDJSON but meta.lastUpdated, which only databases track', async () => {
    expectSameAs(withoutLastUpdated(reference), withoutLastUpdated(await exportNdjson(DUCKDB)));
  }, 300_000);
});

for (const kind of ['postgres', 'mysql'] as TestDatabaseKind[]) {
  const available = await testDatabase(kind);
  const skip = 'skip' in available ? available.skip : undefined;
  if (skip) console.warn(`sources.int.test: ${skip}`);

  describe.skipIf(skip !== undefined)(`Synthea sample loaded into ${kind}`, () => {
    const db = available as TestDatabase;
    let out: SortedNdjson;

    beforeAll(async () => {
      const config = db.config({ mappings: MAPPINGS, sample: 'synthea', timezone: SQLITE.timezone });
      await loadSample(config);
      out = await exportNdjson(config);
    }, 300_000);

    afterAll(async () => {
      await db.cleanup();
    });

    it('maps every row without an issue', () => {
      expect(out.get('OperationOutcome')?.slice(0, 3)).toBeUndefined();
    });

    it('exports byte-identical sorted NDJSON to SQLite and CSV', () => {
      expectSameAs(reference, out);
    });
  });
}
