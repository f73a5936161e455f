// Runs a connector's export into memory, for the claims tests: every resource and every OperationOutcome
// the pipeline writes, plus its summary.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OperationOutcome } from 'fhir/r4';
import type { SourceAdapter } from '../../src/connectors/types.js';
import type { CompiledMappingSet, FhirResource } from '../../src/mapping/types.js';
import type { ExportSummary } from '../../src/pipeline/types.js';

import { loadConnectorConfig } from '../../src/connectors/config.js';
import { openSource } from '../../src/pipeline/open-source.js';
import { runExport } from '../../src/pipeline/run-export.js';
import { MemorySink } from '../support/pipeline-fakes.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ExportResult {
  resources: FhirResource[];
  outcomes: OperationOutcome[];
  summary: ExportSummary;
  byType(type: string): FhirResource[];
}

export async function exportConnector(connectorFile: string): Promise<ExportResult> {
  const source = await openSource(connectorFile);
  try {
    return await exportWith(source.adapter, source.mappings);
  } finally {
    await source.close();
  }
}

/** Exports every mapping of `mappings` (or only those emitting `types`) from an open adapter into memory. */
export async function exportWith(adapter: SourceAdapter, mappings: CompiledMappingSet, types?: string[]): Promise<ExportResult> {
  const sink = new MemorySink();
  const summary = await runExport({ adapter, mappings, sink, ...(types ? { types } : {}) });
  return {
    resources: sink.resources,
    outcomes: sink.errors,
    summary,
    byType: (type) => sink.resources.filter((r) => r.resourceType === type),
  };
}

/**
 * A temporary copy of a CSV connector (e.g. connectors/cms-ccw-rif.yaml) whose `files:` point some tables
 * at other files (the test fixtures) and which may load more mapping folders; everything else stays as the
 * original says.
 */
export async function connectorWith(
  baseFile: string,
  overrides: Record<string, string>,
  extraMappings: string[] = [],
): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const base = await loadConnectorConfig(baseFile);
  const folder = path.resolve(path.dirname(base.file), base.path ?? '.');
  const dir = await mkdtemp(path.join(tmpdir(), 'claims-connector-'));
  const files: Record<string, string> = {};
  for (const [table, file] of Object.entries(base.files ?? {})) files[table] = path.resolve(folder, file);
  for (const [table, file] of Object.entries(overrides)) files[table] = path.resolve(file);
  const text = [
    `name: ${JSON.stringify(base.name + '-variant')}`,
    `kind: ${base.kind}`,
    `path: ${JSON.stringify(folder)}`,
    `delimiter: ${JSON.stringify(base.delimiter ?? ',')}`,
    `timezone: ${JSON.stringify(base.timezone)}`,
    'files:',
    ...Object.entries(files).map(([t, f]) => `  ${t}: ${JSON.stringify(f)}`),
    'mappings:',
    // (a folder the base connector already lists is not listed twice)
    ...[...new Set([...base.mappings, ...extraMappings].map((m) => path.resolve(path.dirname(base.file), m)))].map(
      (m) => `  - ${JSON.stringify(m)}`,
    ),
    '',
  ].join('\n');
  const file = path.join(dir, 'connector.yaml');
  await writeFile(file, text);
  return { file, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Rows of a pipe-delimited RIF file as objects keyed by upper-case column name (values as text). */
export async function readRif(file: string): Promise<Array<Record<string, string>>> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]!.split('|');
  return lines.slice(1).map((line) => {
    const values = line.split('|');
    return Object.fromEntries(header.map((h, i) => [h, values[i] ?? '']));
  });
}
