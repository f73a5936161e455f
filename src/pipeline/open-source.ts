// The one place a connector file becomes something to export from: its configuration, an open adapter and
// the compiled mapping set it names. The CLI and the $export server both start here. It is also where a
// connector's shipped sample (`sample: synthea`) is built on first use: the adapters only read databases.
import { defaultConnectorFile, loadConnectorConfig, openAdapter } from '../connectors/index.js';
import type { ConnectorConfig, SourceAdapter } from '../connectors/types.js';
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
}

/** The adapter for a loaded connector, its shipped sample built first when it names one not built yet. */
export async function openSourceAdapter(config: ConnectorConfig): Promise<SourceAdapter> {
  // imported only then: the sample loader brings the pg and mysql2 drivers with it
  if (config.sample) await (await import('../sample/ensure-sample.js')).ensureSampleFor(config);
  return openAdapter(config);
}

/**
 * Loads the connector file (default: the embedded Synthea sample), compiles its mappings (MappingErrors,
 * located, before any connection is made) and opens the adapter.
 */
export async function openSource(connectorFile?: string, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  const config = await loadConnectorConfig(connectorFile ?? defaultConnectorFile());
  const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
  const adapter = await openSourceAdapter(config);
  try {
    if (options.ping ?? true) await adapter.ping();
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
