// A sqlite connector with `sample: synthea` whose file does not exist yet gets it built on first open, so
// `npm start` works on a fresh checkout. The build goes to a temporary file that is renamed into place
// only when complete: a crash or Ctrl-C never leaves a half-built database that would look valid later.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ConnectorError } from '../errors.js';
import type { ConnectorConfig } from '../connectors/types.js';
import { loadSample } from './load-sample.js';

const building = new Map<string, Promise<void>>();

export function ensureSampleDatabase(config: ConnectorConfig): Promise<void> {
  const file = config.path;
  if (!file || file === ':memory:') return Promise.reject(new ConnectorError(`${config.name}: a sample database needs a file 'path'`));
  if (existsSync(file)) return Promise.resolve();
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
    // Another process may have finished first; its file is equally complete, so either one may win.
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}-journal`, { force: true });
  }
}
