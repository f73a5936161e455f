// The one place a connector file becomes something to export from: its configuration, an open adapter and
// the compiled mapping set it names. The CLI and the $export server both start here. It is also where a
// connector's shipped sample (`sample: synthea`) is built on first use: the adapters only read databases.
import { defaultConnectorFile, loadConnectorConfig, openAdapter } from '../connectors/index.js';
import type { ConnectorConfig, SourceAdapter } from '../connectors/types.js';
import { MappingError, MappingErrors } from '../errors.js';
import { checkColumns } from '../mapping/check-columns.js';
import { loadMappingSet } from '../mapping/index.js';
import type { CompiledMappingSet } from '../mapping/types.js';

export interface OpenedSource {
  config: ConnectorConfig;
  adapter: SourceAdapter;
  mappings: CompiledMappingSet;
  close(): Promise<void>;
}

export interface OpenSourceOptions {
  /** check the source answers before returning (default true), so a dead database fails here, clearly */
  ping?: boolean;
  /**
   * check every column the mappings read against the source's columns (default true): an unknown column is
   * a MappingErrors with each use located, not an export that leaves the element out of every resource.
   * Only `fhir-bridge validate`, which reports the same problems itself next to its warnings, turns it off.
   */
  checkColumns?: boolean;
  /** the connector file's configuration, when the caller has read it already (`serve` reads it to size its threads) */
  config?: ConnectorConfig;
}

/** The adapter for a loaded connector, its shipped sample built first when it names one not built yet. */
export async function openSourceAdapter(config: ConnectorConfig): Promise<SourceAdapter> {
  // imported only then: the sample loader brings the pg and mysql2 drivers with it
  if (config.sample) await (await import('../sample/ensure-sample.js')).ensureSampleFor(config);
  return openAdapter(config);
}

/**
 * Loads the connector file (default: the embedded Synthea sample), compiles its mappings (MappingErrors,
 * located, before any connection is made), opens the adapter and checks the mappings' columns against it.
 */
export async function openSource(connectorFile?: string, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  const config = options.config ?? (await loadConnectorConfig(connectorFile ?? defaultConnectorFile()));
  const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
  const adapter = await openSourceAdapter(config);
  const columns = options.checkColumns ?? true;
  try {
    // The column check asks the source, so it pings first even when told not to: a source that cannot be
    // reached must fail as the ConnectorError it is, not as every table "missing".
    if ((options.ping ?? true) || columns) await adapter.ping();
    if (columns) {
      const problems = await checkColumns(adapter, mappings.mappings);
      if (problems.length > 0)
        throw new MappingErrors(problems.map((p) => new MappingError(`mapping ${p.mapping}: ${p.message}`, p.location)));
    }
  } catch (err) {
    await adapter.close().catch(() => undefined);
    throw err;
  }
  let closed = false;
  return {
    config,
    adapter,
    mappings,
    async close() {
      if (closed) return;
      closed = true;
      await adapter.close();
    },
  };
}

/**
 * The sources a part runner (a pool thread, a queue worker) keeps open between parts, one per connector file,
 * so only the first part of a connector pays for opening it. The coordinator has already pinged the source and
 * checked the mappings' columns against it, so these skip both. A failed open is forgotten: the next part
 * tries again.
 */
export class PartSources {
  private readonly byFile = new Map<string, Promise<OpenedSource>>();

  get(connectorFile: string | undefined): Promise<OpenedSource> {
    const key = connectorFile ?? '';
    let source = this.byFile.get(key);
    if (!source) {
      source = openSource(connectorFile, { ping: false, checkColumns: false });
      source.catch(() => this.byFile.delete(key));
      this.byFile.set(key, source);
    }
    return source;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.byFile.values()].map((s) => s.then((o) => o.close()).catch(() => undefined)));
  }
}
