// A folder of CSV files: the descriptor. The adapter (csv-parse scans; SQL on a scratch SQLite copy) is
// csv-adapter.ts, imported only when a csv connector is opened.
import type { DialectDescriptor } from '../dialect-descriptor.js';

export const csv: DialectDescriptor = {
  name: 'csv',
  aliases: [],
  driverPackage: 'csv-parse',
  open: async (config) => (await import('./csv-adapter.js')).openCsv(config),
  needs: 'path',
  pathHint: 'the folder holding the files',
  // SQL runs on the scratch SQLite database, so it is spelled as SQLite's and a mapping's `sqlite:` fits
  sql: { knexClient: 'better-sqlite3' },
  sqlFallback: ['sqlite'],
  exportConcurrency: 1,
  maxBindParameters: 32_766,
};
