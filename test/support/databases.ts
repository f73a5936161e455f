// A private database for one integration test file. Tests run in parallel with other people's against the
// same servers, so each call gets its own freshly named schema/database (how: the dialect descriptor's
// testDatabase.provision), dropped again by cleanup(). Where the server comes from, in order:
//   1. the descriptor's variable: TEST_POSTGRES_URL / TEST_MARIADB_URL / TEST_MSSQL_URL / TEST_ORACLE_URL
//   2. a throw-away container (testcontainers) when a Docker engine answers, image from docker/images.json
//   3. neither: { skip } with a message naming the variable to set.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestDatabaseFactory } from '../../src/connectors/dialect-descriptor.js';
import { DIALECT_NAMES, dialect } from '../../src/connectors/registry.js';
import type { ConnectorConfig, Dialect } from '../../src/connectors/types.js';

/** The dialects with a database server to test against (their descriptors have `testDatabase`). */
export type TestDatabaseKind = 'postgres' | 'mysql' | 'mssql' | 'oracle';

export interface TestDatabase {
  kind: TestDatabaseKind;
  /** URL of the private schema/database (credentials included: for tests only) */
  url: string;
  /** name of the private schema (PostgreSQL), database (MariaDB, SQL Server) or user (Oracle; see its descriptor) */
  schema: string;
  /** a connector for it; overrides win */
  config(overrides?: Partial<ConnectorConfig>): ConnectorConfig;
  cleanup(): Promise<void>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The server dialects: those whose descriptor says how to get a test database. */
export function serverDialects(): Dialect[] {
  return DIALECT_NAMES.filter((name) => dialect(name).testDatabase !== undefined);
}

function factory(kind: TestDatabaseKind): TestDatabaseFactory {
  const f = dialect(kind).testDatabase;
  if (!f) throw new Error(`the ${kind} dialect has no test database`);
  return f;
}

/** Dialect → pinned image, from docker/images.json (keyed as the descriptors' `testDatabase.image` say). */
export function imagePins(): Record<TestDatabaseKind, string> {
  const pins = JSON.parse(readFileSync(path.join(root, 'docker', 'images.json'), 'utf8')) as Record<string, string>;
  return Object.fromEntries(serverDialects().map((kind) => [kind, pins[factory(kind as TestDatabaseKind).image]!])) as Record<
    TestDatabaseKind,
    string
  >;
}

function uniqueName(prefix = 'fbt'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

async function dockerReachable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000).unref());
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  }
}

/** A private database on the server named by `url`. */
async function onServer(kind: TestDatabaseKind, url: string, prefix?: string): Promise<TestDatabase> {
  const db = await factory(kind).provision(url, uniqueName(prefix));
  return {
    kind,
    url: db.url,
    schema: db.schema,
    config: (overrides = {}) => ({
      file: path.join(root, 'connectors', `test-${kind}.yaml`),
      name: `test-${kind}`,
      kind,
      connection: db.url,
      timezone: 'UTC',
      mappings: [],
      ...db.connector,
      ...overrides,
    }),
    cleanup: db.cleanup,
  };
}

async function inContainer(kind: TestDatabaseKind): Promise<TestDatabase> {
  const server = await factory(kind).container(imagePins()[kind]);
  const db = await onServer(kind, server.url);
  return {
    ...db,
    cleanup: async () => {
      await db.cleanup().catch(() => undefined);
      await server.stop();
    },
  };
}

/** A private database of the kind, or `{ skip }` explaining how to get one (use with `describe.skipIf`). */
export async function testDatabase(kind: TestDatabaseKind, prefix?: string): Promise<TestDatabase | { skip: string }> {
  const { envVar, example } = factory(kind);
  const url = process.env[envVar];
  if (url) return onServer(kind, url, prefix);
  if (await dockerReachable()) return inContainer(kind);
  return { skip: `no ${kind} database: set ${envVar}=${example} (or start a Docker engine) to run` };
}
