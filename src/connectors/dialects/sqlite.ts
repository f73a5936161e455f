// SQLite: the descriptor. The adapter (better-sqlite3, one read-only connection per stream) is
// sqlite-adapter.ts, imported only when a sqlite connector is opened.
import type { DialectDescriptor } from '../dialect-descriptor.js';

export const sqlite: DialectDescriptor = {
  name: 'sqlite',
  aliases: ['sqlite3'],
  driverPackage: 'better-sqlite3',
  open: async (config) => (await import('./sqlite-adapter.js')).openSqlite(config),
  needs: 'path',
  pathHint: 'the database file',
  // knex-style `connection: { filename }` (or the bare file name) instead of `path`
  pathFromConnection: (connection) => {
    const filename =
      typeof connection === 'string'
        ? connection
        : connection && typeof connection === 'object'
          ? (connection as Record<string, unknown>).filename
          : undefined;
    if (typeof filename !== 'string') return undefined;
    return filename === ':memory:' ? filename : filename.replace(/^(file|sqlite3?):(\/\/)?/, '');
  },
  holdsSample: true,
  sql: { knexClient: 'better-sqlite3' },
  // SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
  exportConcurrency: 1,
  maxBindParameters: 32_766,
};
