// Opening a connector: the adapter module for its kind is imported only when asked for, so a PostgreSQL
// user never loads oracledb and a missing driver package fails with a clear message, not at start-up.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConnectorError } from '../errors.js';
import type { ConnectorConfig, Dialect, SourceAdapter } from './types.js';

export { loadConnectorConfig, redactConnection } from './config.js';

const DRIVER_PACKAGE: Record<Dialect, string> = {
  csv: 'csv-parse',
  sqlite: 'better-sqlite3',
  postgres: 'pg',
  mysql: 'mysql2',
  mssql: 'mssql',
  oracle: 'oracledb',
};

async function importAdapter(kind: Dialect): Promise<(config: ConnectorConfig) => Promise<SourceAdapter>> {
  switch (kind) {
    case 'csv':
      return (await import('./csv.js')).openCsv;
    case 'sqlite':
      return (await import('./sqlite.js')).openSqlite;
    case 'postgres':
      return (await import('./postgres.js')).openPostgres;
    case 'mysql':
      return (await import('./mysql.js')).openMysql;
    case 'mssql':
      return (await import('./mssql.js')).openMssql;
    case 'oracle':
      return (await import('./oracle.js')).openOracle;
    default:
      throw new ConnectorError(`unknown connector kind '${String(kind)}'`);
  }
}

/** Whether an import failure is a missing package (as opposed to a bug in the adapter module). */
export function isMissingPackage(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(`'${pkg}'`);
}

/** The adapter for a connector. Call ping() on it to check the source can be reached. */
export async function openAdapter(config: ConnectorConfig): Promise<SourceAdapter> {
  let open: (config: ConnectorConfig) => Promise<SourceAdapter>;
  try {
    open = await importAdapter(config.kind);
  } catch (err) {
    const pkg = DRIVER_PACKAGE[config.kind];
    if (pkg && isMissingPackage(err, pkg))
      throw new ConnectorError(`${config.name}: the ${config.kind} connector needs the '${pkg}' package: npm install ${pkg}`);
    throw err;
  }
  return open(config);
}

/** connectors/ of the installation (src/connectors and dist/connectors are both two levels below it). */
export function connectorsFolder(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'connectors');
}

/** The connector used when none is named: the Synthea sample in SQLite, built on first use. */
export function defaultConnectorFile(): string {
  return path.join(connectorsFolder(), 'synthea-sqlite.yaml');
}
