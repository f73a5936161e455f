// The incremental loop of issue 9 on one database: a full export at T0, then the changes a hospital makes
// (5 encounters and 1 claim line updated, 2 conditions deleted, 1 new patient with its encounter), then a
// `_since=T0` export, through the CLI and through the $export server. What the second export must hold
// is worked out from the rows that changed and the T0 export, never from the second export itself.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { writeFile } from 'node:fs/promises';
import type { SummaryFile } from '../../src/cli/commands/export.js';
import { buildServer } from '../../src/http/app.js';
import { SqliteJobStore } from '../../src/jobs/job-store-sqlite.js';
import type { ExportManifest } from '../../src/jobs/types.js';
import { openSource } from '../../src/pipeline/open-source.js';
import { SYNTHEA_TABLES } from '../../src/sample/synthea-schema.js';
import { REPO_ROOT } from '../support/e2e-support.js';
import { runCli } from '../support/run-cli.js';

/** What the scenario needs from a database: run SQL (with `?` placeholders), rows back. */
export interface Sql {
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
}

export type Resources = Record<string, Array<Record<string, unknown>>>;

export interface ExportFiles {
  resources: Resources;
  /** `Type/id` of every DELETE entry */
  deleted: string[];
  transactionTime: string;
}

export async function writeScenarioConnector(dir: string, connector: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'connector.yaml');
  const mappings = [join(REPO_ROOT, 'mappings', 'synthea'), join(REPO_ROOT, 'mappings', 'synthea-claims')];
  await writeFile(file, stringify({ timezone: 'UTC', mappings, ...connector }));
  return file;
}

/** `fhir-bridge export` into a fresh folder; what it wrote. */
export async function cliExport(connector: string, since?: string): Promise<ExportFiles> {
  const out = await mkdtemp(join(tmpdir(), 'incr-cli-'));
  try {
    // without validation, like the server below: the Synthea claims fail CARIN BB's required bindings (see the
    // README's Validation known gaps), and this scenario counts every changed EOB and Claim
    const run = await runCli('export', '--connector', connector, '--out', out, '--no-validate', ...(since ? ['--since', since] : []));
    if (run.code !== 0) throw new Error(`export failed (${run.code}): ${run.err}\n${run.out}`);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as SummaryFile;
    const resources: Resources = {};
    const deleted: string[] = [];
    for (const name of (await readdir(out)).filter((n) => n.endsWith('.ndjson')).sort()) {
      const lines = (await readFile(join(out, name), 'utf8')).split('\n').filter(Boolean);
      for (const line of lines) {
        const r = JSON.parse(line) as Record<string, unknown>;
        if (name.startsWith('deleted.')) deleted.push(...deleteEntries(r));
        else if (r.resourceType !== 'OperationOutcome') add(resources, r.resourceType as string, r);
      }
    }
    return { resources, deleted, transactionTime: summary.transactionTime };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function deleteEntries(bundle: Record<string, unknown>): string[] {
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'transaction')
    throw new Error(`not a transaction Bundle: ${JSON.stringify(bundle)}`);
  return (bundle.entry as Array<{ request: { method: string; url: string } }>).map((e) => {
    if (e.request.method !== 'DELETE') throw new Error(`not a DELETE entry: ${JSON.stringify(e)}`);
    return e.request.url;
  });
}

/** The same export through the $export server (open mode): kick-off, poll, download. */
export async function serverExport(connector: string, since?: string): Promise<ExportFiles & { manifest: ExportManifest }> {
  const dir = await mkdtemp(join(tmpdir(), 'incr-server-'));
  const source = await openSource(connector);
  const server = await buildServer({
    source,
    store: new SqliteJobStore(join(dir, 'jobs.sqlite')),
    dataDir: dir,
    auth: { mode: 'open' },
    retryAfterSeconds: 1,
    minPollIntervalMs: 0,
  });
  try {
    const base = await server.listen(0, '127.0.0.1');
    const kick = await fetch(`${base}/fhir/$export${since ? `?_since=${encodeURIComponent(since)}` : ''}`, {
      headers: { accept: 'application/fhir+json', prefer: 'respond-async' },
    });
    if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
    const statusUrl = kick.headers.get('content-location')!;
    let manifest: ExportManifest;
    for (;;) {
      const res = await fetch(statusUrl);
      if (res.status === 200) {
        manifest = (await res.json()) as ExportManifest;
        break;
      }
      if (res.status !== 202) throw new Error(`status answered ${res.status}: ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const resources: Resources = {};
    const deleted: string[] = [];
    for (const [files, isDeleted] of [
      [manifest.output, false],
      [manifest.deleted ?? [], true],
    ] as const) {
      for (const file of files) {
        const lines = (await (await fetch(file.url)).text()).split('\n').filter(Boolean);
        for (const line of lines) {
          const r = JSON.parse(line) as Record<string, unknown>;
          if (isDeleted) {
            if (file.type !== 'Bundle') throw new Error(`deleted file of type ${file.type}`);
            deleted.push(...deleteEntries(r));
          } else add(resources, file.type, r);
        }
      }
    }
    return { resources, deleted, transactionTime: manifest.transactionTime, manifest };
  } finally {
    await server.close();
    await source.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function add(resources: Resources, type: string, r: Record<string, unknown>): void {
  resources[type] ??= [];
  resources[type].push(r);
}

/** `Type/id` of every resource, sorted. */
export function refs(resources: Resources): string[] {
  return Object.values(resources)
    .flat()
    .map((r) => `${String(r.resourceType)}/${String(r.id)}`)
    .sort();
}

const columnsOf = (table: string): string[] => SYNTHEA_TABLES.find((t) => t.name === table)!.columns.map((c) => c.name);

export interface Changes {
  /** `Type/id` the `_since` export must contain, exactly */
  changed: string[];
  /** `Type/id` its deleted list must contain, exactly */
  deleted: string[];
}

/**
 * Applies the issue's changes and says, from the T0 export, which resources they must bring back: the 5
 * encounters (and the Provenance made from each encounter row), the claim of the changed line (its EOB
 * and Claim), the deleted conditions, the new patient, its encounter and that encounter's Provenance.
 */
export async function applyChanges(db: Sql, t0: Resources): Promise<Changes> {
  const byRef = new Map<string, Record<string, unknown>>(
    Object.values(t0)
      .flat()
      .map((r) => [`${String(r.resourceType)}/${String(r.id)}`, r]),
  );
  const encounters = (await db.query('SELECT id FROM encounters ORDER BY id')).slice(0, 5).map((r) => String(r.id));
  for (const id of encounters)
    await db.query(`UPDATE encounters SET reasondescription = 'changed by the incremental test' WHERE id = ?`, [id]);

  const line = (await db.query(`SELECT id, claimid FROM claims_transactions WHERE type = 'CHARGE' ORDER BY id`))[0]!;
  await db.query(`UPDATE claims_transactions SET notes = 'changed line' WHERE id = ?`, [line.id]);

  const conditions = (await db.query('SELECT patient, encounter, code FROM conditions ORDER BY patient, encounter, code')).slice(0, 2);
  const deleted: string[] = [];
  for (const c of conditions) {
    await db.query('DELETE FROM conditions WHERE patient = ? AND encounter = ? AND code = ?', [c.patient, c.encounter, c.code]);
    // the ids the T0 export gave these conditions, found by their content
    for (const r of t0.Condition ?? []) {
      const coding = (r.code as { coding: Array<{ code: string }> }).coding[0]!.code;
      if ((r.encounter as { reference: string }).reference.endsWith(`/${String(c.encounter)}`) && coding === String(c.code))
        deleted.push(`Condition/${String(r.id)}`);
    }
  }

  // a new patient and one encounter of theirs: copies of existing rows under new ids
  const [template] = await db.query('SELECT id FROM patients ORDER BY id');
  const patientCols = columnsOf('patients').filter((c) => c !== 'id');
  await db.query(`INSERT INTO patients (id, ${patientCols.join(', ')}) SELECT ?, ${patientCols.join(', ')} FROM patients WHERE id = ?`, [
    'incr-new-patient',
    template!.id,
  ]);
  const [encounter] = await db.query('SELECT id FROM encounters WHERE patient = ? ORDER BY id', [template!.id]);
  const encounterCols = columnsOf('encounters').filter((c) => c !== 'id' && c !== 'patient');
  await db.query(
    `INSERT INTO encounters (id, patient, ${encounterCols.join(', ')}) SELECT ?, ?, ${encounterCols.join(', ')} FROM encounters WHERE id = ?`,
    ['incr-new-encounter', 'incr-new-patient', encounter!.id],
  );

  // which resources of T0 came from the changed rows: Encounter and Provenance per encounter row
  const fromEncounter = (id: string): string[] =>
    [...byRef.values()]
      .filter(
        (r) =>
          (r.resourceType === 'Encounter' && (r.identifier as Array<{ value?: string }> | undefined)?.some((i) => i.value === id)) ||
          (r.resourceType === 'Provenance' &&
            (r.target as Array<{ reference: string }>).some(
              (t) => byRef.get(t.reference)?.resourceType === 'Encounter' && encounterIdOf(byRef.get(t.reference)!) === id,
            )),
      )
      .map((r) => `${String(r.resourceType)}/${String(r.id)}`);
  const changed = encounters.flatMap(fromEncounter);
  // the EOB of the claim, and the Claim it points at
  const eob = [...byRef.values()].filter(
    (r) =>
      r.resourceType === 'ExplanationOfBenefit' &&
      (r.identifier as Array<{ value?: string }> | undefined)?.some((i) => i.value === String(line.claimid)),
  );
  changed.push(...eob.flatMap((r) => [`ExplanationOfBenefit/${String(r.id)}`, (r.claim as { reference: string }).reference]));
  return { changed: changed.sort(), deleted: deleted.sort() };
}

function encounterIdOf(r: Record<string, unknown>): string | undefined {
  return (r.identifier as Array<{ value?: string }> | undefined)?.[0]?.value;
}
