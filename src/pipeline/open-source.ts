// The one place a connector file becomes something to export from: its configuration, an open adapter and
// the compiled mapping set it names. The CLI and the $export server both start here.
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

/**
 * Loads the connector file (default: the embedded Synthea sample), compiles its mappings (MappingErrors,
 * located, before any connection is made) and opens the adapter.
 */
export async function openSource(connectorFile?: string, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  const config = await loadConnectorConfig(connectorFile ?? defaultConnectorFile());
  const mappings = await loadMappingSet(config.mappings, { timezone: config.timezone });
  const adapter = await openAdapter(config);
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
