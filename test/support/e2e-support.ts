// What the end-to-end tests (SQLite sample, PostgreSQL) share: a connector file with groups for a sample
// database, and a bulk data client in a few lines (kick-off, honour Retry-After, download, validate).
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { schemaValidator, type SchemaViolation } from '../../src/fhir/schema-validator.js';
import type { ExportManifest } from '../../src/jobs/types.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** Groups over the Synthea sample: one by SQL, one roster table with a where. */
export const SAMPLE_GROUPS = {
  sinusitis: {
    name: 'Viral sinusitis patients',
    description: 'Anyone ever diagnosed with viral sinusitis',
    sql: "SELECT DISTINCT PATIENT FROM conditions WHERE CODE = '444814009'",
  },
  women: { name: 'Female patients', table: 'patients', column: 'Id', where: { GENDER: 'F' } },
};

export async function writeConnectorFile(dir: string, connector: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'connector.yaml');
  await writeFile(
    file,
    stringify({ timezone: 'UTC', mappings: [join(REPO_ROOT, 'mappings', 'synthea')], groups: SAMPLE_GROUPS, ...connector }),
  );
  return file;
}

export interface ExportRun {
  manifest: ExportManifest;
  /** resources per type, every line parsed */
  resources: Record<string, Array<Record<string, unknown>>>;
  errors: Array<Record<string, unknown>>;
  violations: Array<{ type: string; id: unknown; violations: SchemaViolation[] }>;
  polls: number;
}

/** Kicks off, polls honouring Retry-After, downloads every file (gzip accepted) and validates each line. */
export async function exportOverHttp(
  url: string,
  init: { token?: string; method?: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ExportRun> {
  const auth: Record<string, string> = init.token ? { authorization: `Bearer ${init.token}` } : {};
  const kick = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/fhir+json',
      prefer: 'respond-async',
      ...auth,
      ...(init.body ? { 'content-type': 'application/fhir+json' } : {}),
      ...init.headers,
    },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  if (kick.status !== 202) throw new Error(`kick-off answered ${kick.status}: ${await kick.text()}`);
  const statusUrl = kick.headers.get('content-location')!;
  let polls = 0;
  let manifest: ExportManifest;
  for (;;) {
    polls++;
    const res = await fetch(statusUrl, { headers: { accept: 'application/json', ...auth } });
    if (res.status === 200) {
      manifest = (await res.json()) as ExportManifest;
      break;
    }
    if (res.status !== 202 && res.status !== 429) throw new Error(`status answered ${res.status}: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
  }
  const validator = schemaValidator();
  const run: ExportRun = { manifest, resources: {}, errors: [], violations: [], polls };
  for (const [list, isError] of [
    [manifest.output, false],
    [manifest.error, true],
  ] as const) {
    for (const file of list) {
      const res = await fetch(file.url, { headers: { accept: 'application/fhir+ndjson', 'accept-encoding': 'gzip', ...auth } });
      if (res.status !== 200) throw new Error(`download of ${file.url} answered ${res.status}`);
      if (res.headers.get('content-type') !== 'application/fhir+ndjson')
        throw new Error(`download of ${file.url} has Content-Type ${res.headers.get('content-type')}`);
      const lines = (await res.text()).split('\n').filter((l) => l.length > 0);
      if (file.count !== undefined && file.count !== lines.length)
        throw new Error(`${file.url}: manifest count ${file.count}, file has ${lines.length} lines`);
      for (const line of lines) {
        const resource = JSON.parse(line) as Record<string, unknown>;
        if (resource.resourceType !== file.type)
          throw new Error(`${file.url} (type ${file.type}) holds a ${String(resource.resourceType)}`);
        const violations = validator.validate(resource);
        if (violations.length) run.violations.push({ type: file.type, id: resource.id, violations });
        if (isError) run.errors.push(resource);
        else {
          run.resources[file.type] ??= [];
          run.resources[file.type].push(resource);
        }
      }
    }
  }
  return run;
}

/** Patient ids a resource refers to through subject/patient/beneficiary (for compartment checks). */
export function patientRefs(resource: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of ['subject', 'patient', 'beneficiary']) {
    const ref = (resource[key] as { reference?: string } | undefined)?.reference;
    if (ref?.startsWith('Patient/')) out.push(ref.slice('Patient/'.length));
  }
  return out;
}
