// A connector over a fresh temporary folder, for the file-based adapters' unit tests (CSV, SQLite, DuckDB). The
// folder exists before the test file's own beforeAll hooks run (register this first) and is removed after
// all its tests. Takes vitest's hooks so this module (compiled with the rest of src) does not import vitest.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConnectorConfig } from '../../src/connectors/types.js';

type Hook = (fn: () => Promise<unknown>) => void;

export interface ScratchConnector {
  /** the temporary folder (set once the first beforeAll hook ran) */
  readonly dir: string;
  /** a connector named `test-<kind>` reading `source(dir)`; overrides win */
  config(overrides?: Partial<ConnectorConfig>): ConnectorConfig;
}

export function scratchConnector(
  hooks: { beforeAll: Hook; afterAll: Hook },
  kind: 'csv' | 'sqlite' | 'duckdb',
  source: (dir: string) => string,
): ScratchConnector {
  let dir = '';
  hooks.beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), `fbt-${kind}-`));
  });
  hooks.afterAll(() => rm(dir, { recursive: true, force: true }));
  return {
    get dir() {
      return dir;
    },
    config: (overrides = {}) => ({
      file: path.join(dir, 'c.yaml'),
      name: `test-${kind}`,
      kind,
      path: source(dir),
      timezone: 'UTC',
      mappings: [],
      ...overrides,
    }),
  };
}
