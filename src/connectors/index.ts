// Opening a connector: its dialect's descriptor imports the adapter module only when asked, so a PostgreSQL
// user never loads oracledb and a missing driver package fails with a clear message, not at start-up.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConnectorError } from '../errors.js';
import { dialect } from './registry.js';
import type { ConnectorConfig, SourceAdapter } from './types.js';

export { loadConnectorConfig, redactConnection } from './config.js';
export { DIALECT_NAMES, kindSpellings } from './registry.js';

/** Whether an import failure is a missing package (as opposed to a bug in the adapter module). */
export function isMissingPackage(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(`'${pkg}'`);
}

/** The adapter for a connector. Call ping() on it to check the source can be reached. */
export async function openAdapter(config: ConnectorConfig): Promise<SourceAdapter> {
  const descriptor = dialect(config.kind);
  try {
    return await descriptor.open(config);
  } catch (err) {
    const pkg = descriptor.driverPackage;
    if (isMissingPackage(err, pkg))
      throw new ConnectorError(`${config.name}: the ${config.kind} connector needs the '${pkg}' package: npm install ${pkg}`);
    throw err;
  }
}

/** connectors/ of the installation (src/connectors and dist/connectors are both two levels below it). */
export function connectorsFolder(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'connectors');
}

/** The connector used when none is named: the Synthea sample in SQLite, built on first use. */
export function defaultConnectorFile(): string {
  return path.join(connectorsFolder(), 'synthea-sqlite.yaml');
}
