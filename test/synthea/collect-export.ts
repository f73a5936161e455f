// Runs a full export of a connector into memory, for tests that look at every resource.
import { openSource, openSourceAdapter } from '../../src/pipeline/open-source.js';
import { loadConnectorConfig } from '../../src/connectors/index.js';
import type { ConnectorConfig, SourceAdapter } from '../../src/connectors/types.js';
import { loadMappingSet } from '../../src/mapping/index.js';
import type { CompiledMappingSet } from '../../src/mapping/types.js';
import { runExport } from '../../src/pipeline/run-export.js';
import { MemorySink } from '../support/pipeline-fakes.js';
import type { FhirResource } from '../../src/mapping/types.js';
import type { ResourceSink } from '../../src/sinks/types.js';
import type { ExportRequest, ExportSummary } from '../../src/pipeline/types.js';

type OperationOutcome = Parameters<ResourceSink['writeError']>[0];

export interface CollectedExport {
  resources: FhirResource[];
  errors: OperationOutcome[];
  summary: ExportSummary;
}

type ExportOptions = Omit<ExportRequest, 'adapter' | 'mappings' | 'sink'>;

async function collect(adapter: SourceAdapter, mappings: CompiledMappingSet, options: ExportOptions = {}): Promise<CollectedExport> {
  const sink = new MemorySink();
  const summary = await runExport({ ...options, adapter, mappings, sink });
  return { resources: sink.resources, errors: sink.errors, summary };
}

/** Everything a connector file's mappings make from its source (or only `mappingPaths`' mappings: the
 *  shipped Synthea connectors also list the claims mappings, which test/claims checks). */
export async function exportConnector(
  connectorFile: string,
  options: ExportOptions = {},
  mappingPaths?: string[],
): Promise<CollectedExport> {
  if (mappingPaths) return exportConfig({ ...(await loadConnectorConfig(connectorFile)), mappings: mappingPaths }, options);
  const source = await openSource(connectorFile);
  try {
    return await collect(source.adapter, source.mappings, options);
  } finally {
    await source.close();
  }
}

/** Same for a connector configuration built in memory (test databases). */
export async function exportConfig(config: ConnectorConfig, options: ExportOptions = {}): Promise<CollectedExport> {
  const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
  const adapter = await openSourceAdapter(config);
  try {
    return await collect(adapter, mappings, options);
  } finally {
    await adapter.close();
  }
}

/** Every `reference` string anywhere in a resource. */
export function referencesOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesOf(v, out);
    }
  }
  return out;
}

/** JSON paths of empty strings, arrays and objects (FHIR forbids them). */
export function emptyValues(value: unknown, at = '', out: string[] = []): string[] {
  if (value === '' || (Array.isArray(value) && value.length === 0)) out.push(at || '/');
  else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      emptyValues(v, `${at}/${i}`, out);
    });
  } else if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) out.push(at || '/');
    for (const [k, v] of entries) emptyValues(v, `${at}/${k}`, out);
  }
  return out;
}

/**
 * Resources sorted by type and id, with keys sorted, for comparing exports of different sources.
 * `withoutLastUpdated` drops meta.lastUpdated, for comparing a database (whose change-tracking column gives
 * it) with CSV files (which keep no change times).
 */
export function canonical(resources: FhirResource[], options: { withoutLastUpdated?: boolean } = {}): string[] {
  if (options.withoutLastUpdated)
    resources = resources.map((r) => {
      if (!r.meta) return r;
      const { lastUpdated: _dropped, ...meta } = r.meta as Record<string, unknown>;
      const { meta: _all, ...rest } = r;
      return Object.keys(meta).length > 0 ? { ...rest, meta } : (rest as FhirResource);
    });
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return resources.map((r) => JSON.stringify(sortKeys(r))).sort();
}
