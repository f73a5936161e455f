// A CSV line that cannot be parsed (too few fields, too many, a quote never closed) in the middle of a
// table does not stop the export: every other row is exported as from the clean sample, and the error file
// names each bad line once (connector, file, line, what was wrong), through `fhir-bridge export` and
// through a server job. Runs over a copy of the Synthea sample with three lines spoiled.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, type BulkServer } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import { openSource, type OpenedSource } from '../../src/pipeline/open-source.js';
import { exportOverHttp, REPO_ROOT, writeConnectorFile } from '../support/e2e-support.js';
import { runCli } from '../support/run-cli.js';

const SAMPLE = path.join(REPO_ROOT, 'samples/synthea-11pt/csv');

interface Spoil {
  table: string;
  /** 1-based line of the file that is spoiled */
  line: number;
  spoil: (line: string) => string;
  message: RegExp;
}

const SPOILS: Spoil[] = [
  { table: 'patients', line: 5, spoil: (l) => l.split(',').slice(0, 4).join(','), message: /wrong number of fields/ },
  { table: 'encounters', line: 20, spoil: (l) => `${l},surplus,fields`, message: /wrong number of fields/ },
  // a quote opened at the start of the last field and never closed: it would swallow the rest of the file
  {
    table: 'conditions',
    line: 10,
    spoil: (l) => l.replace(/,([^,]*)$/, ',"$1'),
    message: /quote/i,
  },
];

let dir: string;
let spoiledDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fhir-bridge-bad-lines-'));
  spoiledDir = path.join(dir, 'spoiled');
  await cp(SAMPLE, spoiledDir, { recursive: true });
  for (const s of SPOILS) {
    const file = path.join(spoiledDir, `${s.table}.csv`);
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[s.line - 1] = s.spoil(lines[s.line - 1]!);
    await writeFile(file, lines.join('\n'));
  }
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface NdjsonExport {
  resources: Array<Record<string, unknown>>;
  errors: Array<{ issue: Array<{ severity: string; code: string; diagnostics?: string }> }>;
}

async function cliExport(folder: string, name: string): Promise<NdjsonExport & { code: number; summary: { rejected: { total: number } } }> {
  const home = path.join(dir, name);
  await mkdir(home);
  const connector = await writeConnectorFile(home, { name, kind: 'csv', path: folder });
  const out = path.join(home, 'out');
  const result = await runCli('export', '--connector', connector, '--out', out);
  const run: NdjsonExport = { resources: [], errors: [] };
  for (const f of await readdir(out)) {
    if (!f.endsWith('.ndjson')) continue;
    const lines = (await readFile(path.join(out, f), 'utf8')).split('\n').filter(Boolean);
    for (const l of lines) {
      const r = JSON.parse(l) as Record<string, unknown>;
      if (r.resourceType === 'OperationOutcome') run.errors.push(r as NdjsonExport['errors'][number]);
      else run.resources.push(r);
    }
  }
  const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8')) as { rejected: { total: number } };
  return { ...run, code: result.code, summary };
}

const ids = (e: Pick<NdjsonExport, 'resources'>) => new Set(e.resources.map((r) => `${String(r.resourceType)}/${String(r.id)}`));
const lineIssues = (e: Pick<NdjsonExport, 'errors'>) =>
  e.errors.flatMap((o) => o.issue).filter((i) => i.code === 'structure' && /line skipped/.test(i.diagnostics ?? ''));

function expectEachBadLineOnce(e: Pick<NdjsonExport, 'errors'>, connector: string): void {
  const issues = lineIssues(e);
  expect(
    issues
      .map((i) =>
        i
          .diagnostics!.match(/\/(\w+)\.csv:(\d+):/)
          ?.slice(1)
          .join(':'),
      )
      .sort(),
  ).toEqual(SPOILS.map((s) => `${s.table}:${s.line}`).sort());
  for (const s of SPOILS) {
    const issue = issues.find((i) => i.diagnostics!.includes(`${s.table}.csv:${s.line}:`))!;
    expect(issue.severity).toBe('error');
    expect(issue.diagnostics).toMatch(s.message);
    expect(issue.diagnostics).toContain(`connector ${connector}`);
    expect(issue.diagnostics).toContain(path.join(spoiledDir, `${s.table}.csv`));
  }
}

describe('a malformed CSV line, through `fhir-bridge export`', () => {
  let spoiled: Awaited<ReturnType<typeof cliExport>>;
  let clean: Awaited<ReturnType<typeof cliExport>>;
  beforeAll(async () => {
    spoiled = await cliExport(spoiledDir, 'spoiled-cli');
    clean = await cliExport(SAMPLE, 'clean-cli');
  }, 240_000);

  it('exits 0 and lists each bad line once, with connector, file, line and the reason', () => {
    expect(spoiled.code).toBe(0);
    expectEachBadLineOnce(spoiled, 'spoiled-cli');
    expect(spoiled.summary.rejected.total - clean.summary.rejected.total).toBeGreaterThanOrEqual(SPOILS.length);
  });

  it('loses only the resources of the three bad lines (the encounter line also made a Provenance)', () => {
    const kept = ids(spoiled);
    const lost = [...ids(clean)].filter((id) => !kept.has(id));
    const byType = (type: string) => lost.filter((id) => id.startsWith(`${type}/`));
    expect(byType('Patient')).toHaveLength(1);
    expect(byType('Encounter')).toHaveLength(1);
    expect(byType('Condition')).toHaveLength(1);
    const encounter = byType('Encounter')[0]!;
    const others = lost.filter((id) => !/^(Patient|Encounter|Condition)\//.test(id));
    const resource = (id: string) => clean.resources.find((r) => `${String(r.resourceType)}/${String(r.id)}` === id)!;
    for (const id of others) expect(JSON.stringify(resource(id)), id).toContain(encounter);
    expect(others.length).toBeLessThanOrEqual(1);
  });
});

describe('a malformed CSV line, through a server job', () => {
  let source: OpenedSource;
  let server: BulkServer;
  let base: string;
  beforeAll(async () => {
    const home = path.join(dir, 'server');
    await mkdir(home);
    source = await openSource(await writeConnectorFile(home, { name: 'spoiled-server', kind: 'csv', path: spoiledDir }));
    server = await buildServer({
      source,
      store: new SqliteJobStore(path.join(home, 'jobs.sqlite')),
      dataDir: home,
      auth: { mode: 'open' },
      retryAfterSeconds: 1,
      minPollIntervalMs: 200,
    });
    base = await server.listen(0, '127.0.0.1');
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await source?.close();
  });

  it('completes, and two exports in a row each list each bad line once', async () => {
    for (let i = 0; i < 2; i++) {
      const run = await exportOverHttp(`${base}/fhir/$export`);
      expect(run.violations).toEqual([]);
      expectEachBadLineOnce(run as unknown as NdjsonExport, 'spoiled-server');
      expect(run.resources.Patient!.length).toBe(10);
    }
  }, 240_000);
});
