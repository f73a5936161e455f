// A connector with `sample: synthea` whose database file does not exist yet gets it built when it is first
// opened for an export (src/pipeline/open-source.ts; the adapters know nothing of samples), so `npm start`
// works on a fresh checkout. The build goes to a temporary file that is renamed into place
// only when complete: a crash or Ctrl-C never leaves a half-built database that would look valid later.
// The file records the sample schema version (PRAGMA user_version); one built by an older fhir-bridge is
// rebuilt, so an upgrade never keeps exporting from a database without the indexes the mappings rely on.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConnectorError } from '../errors.js';
import { dialect } from '../connectors/registry.js';
import type { ConnectorConfig } from '../connectors/types.js';
import { loadSample } from './load-sample.js';
import { SYNTHEA_SCHEMA_VERSION } from './synthea-schema.js';

const building = new Map<string, Promise<void>>();

/**
 * Builds the shipped sample a connector names (`sample:`) when it is kept in a file (SQLite) that does not
 * exist yet or was built by an older version; anything else (no sample, a server database, which `load-sample` fills) is left alone.
 */
export async function ensureSampleFor(config: ConnectorConfig): Promise<void> {
  const file = config.path;
  if (!config.sample || dialect(config.kind).needs !== 'path' || !file || file === ':memory:') return;
  // one built by an older fhir-bridge lacks what the mappings now read (e.g. the change-tracking columns)
  if (existsSync(file) && builtVersion(file) === SYNTHEA_SCHEMA_VERSION) return;
  await ensureSampleDatabase(config);
}

export function ensureSampleDatabase(config: ConnectorConfig): Promise<void> {
  const file = config.path;
  if (!file || file === ':memory:') return Promise.reject(new ConnectorError(`${config.name}: a sample database needs a file 'path'`));
  if (existsSync(file) && builtVersion(file) === SYNTHEA_SCHEMA_VERSION) return Promise.resolve();
  let pending = building.get(file);
  if (!pending) {
    pending = build(config, file).finally(() => building.delete(file));
    building.set(file, pending);
  }
  return pending;
}

async function build(config: ConnectorConfig, file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.building`;
  try {
    await loadSample({ ...config, path: tmp }, { sample: config.sample as 'synthea', replace: true });
    const db = new Database(tmp);
    try {
      db.pragma(`user_version = ${SYNTHEA_SCHEMA_VERSION}`);
    } finally {
      db.close();
    }
    // A stale write-ahead log of a replaced file must not be applied to the new one.
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
    // Another process may have finished first; its file is equally complete, so either one may win.
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}-journal`, { force: true });
  }
}

/** The sample schema version a database file was built with (0: unknown, e.g. built before versions). */
export function builtVersion(file: string): number {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return Number(db.pragma('user_version', { simple: true }));
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}
