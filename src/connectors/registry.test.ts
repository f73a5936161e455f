// The dialect table: names, aliases and per-dialect settings read from the descriptors, drivers loaded only
// when a connector of their kind is opened, and a missing driver named with the command that installs it.
import { describe, expect, it, vi } from 'vitest';
import { ConnectorError } from '../errors.js';
import { MAX_IN_LIST } from '../pipeline/plan.js';
import type { ConnectorConfig } from './types.js';

// Every driver package is replaced by a stand-in that records its loading: the modules under test may
// load none of them until a connector is opened.
const loaded = vi.hoisted(() => new Set<string>());
vi.mock('pg', () => {
  loaded.add('pg');
  return { default: {} };
});
vi.mock('pg-query-stream', () => {
  loaded.add('pg-query-stream');
  return { default: class {} };
});
vi.mock('mysql2', () => {
  loaded.add('mysql2');
  return { default: {} };
});
vi.mock('mssql', () => {
  loaded.add('mssql');
  return { default: {} };
});
vi.mock('oracledb', () => {
  loaded.add('oracledb');
  return { default: {} };
});
vi.mock('better-sqlite3', () => {
  loaded.add('better-sqlite3');
  return { default: class {} };
});
vi.mock('@duckdb/node-api', () => {
  loaded.add('@duckdb/node-api');
  return {};
});

const config = (kind: ConnectorConfig['kind'], extra: Partial<ConnectorConfig> = {}): ConnectorConfig => ({
  file: '/x/c.yaml',
  name: `c-${kind}`,
  kind,
  timezone: 'UTC',
  mappings: [],
  ...extra,
});

describe('dialect registry', () => {
  it('loads no driver when the registry, the connector file reader, the loader and the SQL builder load', async () => {
    await import('./registry.js');
    await import('./config.js');
    await import('./index.js');
    const { buildSelect } = await import('./sql-builder.js');
    for (const name of ['postgres', 'mysql', 'mssql', 'oracle', 'sqlite', 'duckdb'] as const)
      buildSelect(name, { table: 't', where: [{ column: 'a', op: '=', value: 1 }] });
    expect([...loaded]).toEqual([]);
  });

  it("loads a dialect's driver when a connector of that kind is opened, and only that one", async () => {
    const { openAdapter } = await import('./index.js');
    await openAdapter(config('postgres', { connection: 'postgres://u@h/db' })).catch(() => undefined);
    expect([...loaded].sort()).toEqual(['pg', 'pg-query-stream']);
  });

  it('names the package to install when a driver is missing', async () => {
    const { openAdapter } = await import('./index.js');
    const { dialect } = await import('./registry.js');
    // as Node reports an import of a package that is not installed
    const notInstalled = Object.assign(new Error("Cannot find package '@duckdb/node-api' imported from /x/duckdb.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const open = vi.spyOn(dialect('duckdb'), 'open').mockRejectedValueOnce(notInstalled);
    const err = await openAdapter(config('duckdb', { path: '/x' })).catch((e: unknown) => e);
    expect(open).toHaveBeenCalledOnce();
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toBe(
      "c-duckdb: the duckdb connector needs the '@duckdb/node-api' package: npm install @duckdb/node-api",
    );
  });

  it('holds one descriptor per exported name, with aliases that name nothing else', async () => {
    const table = await import('./dialects/index.js');
    const { DIALECT_NAMES, dialect, kindSpellings, resolveKind } = await import('./registry.js');
    expect([...DIALECT_NAMES]).toEqual(Object.keys(table).sort());
    for (const [key, descriptor] of Object.entries(table)) expect(descriptor.name).toBe(key);
    const spellings = kindSpellings();
    expect(new Set(spellings).size).toBe(spellings.length);
    for (const name of DIALECT_NAMES) {
      expect(resolveKind(name.toUpperCase())).toBe(name);
      for (const alias of dialect(name).aliases) expect(resolveKind(alias)).toBe(name);
    }
    expect(resolveKind('mariadb')).toBe('mysql');
    expect(resolveKind('dbase')).toBeUndefined();
    expect(() => dialect('dbase')).toThrow(ConnectorError);
  });

  it("keeps the pipeline's IN lists within every dialect's bind limits", async () => {
    const { DIALECT_NAMES, dialect } = await import('./registry.js');
    for (const name of DIALECT_NAMES) {
      const d = dialect(name);
      expect(MAX_IN_LIST, name).toBeLessThanOrEqual(Math.min(d.maxInList ?? Infinity, d.maxBindParameters));
    }
  });

  it('gives every dialect a way to be reached and every server dialect a test database and an index catalogue', async () => {
    const { DIALECT_NAMES, dialect } = await import('./registry.js');
    for (const name of DIALECT_NAMES) {
      const d = dialect(name);
      if (d.needs === 'connection') {
        expect(d.testDatabase?.envVar, name).toMatch(/^TEST_[A-Z]+_URL$/);
        expect(d.indexCatalogue?.('t').sql, name).toMatch(/index_name/);
      }
      expect(d.exportConcurrency, name).toBeGreaterThanOrEqual(1);
    }
  });
});
