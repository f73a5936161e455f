// A private database for one integration test file. Tests run in parallel with other people's against the
// same servers, so each call gets its own freshly named PostgreSQL schema / MariaDB or SQL Server database,
// dropped again by cleanup(). Where the server comes from, in order:
//   1. TEST_POSTGRES_URL / TEST_MARIADB_URL / TEST_MSSQL_URL / TEST_ORACLE_URL
//   2. a throw-away container (testcontainers) when a Docker engine answers, images from docker/images.json
//   3. neither: { skip } with a message naming the variable to set.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectorConfig } from '../../src/connectors/types.js';

export type TestDatabaseKind = 'postgres' | 'mysql' | 'mssql' | 'oracle';

export interface TestDatabase {
  kind: TestDatabaseKind;
  /** URL of the private schema/database (credentials included: for tests only) */
  url: string;
  /** name of the private schema (PostgreSQL), database (MariaDB, SQL Server) or user (Oracle; see onServer) */
  schema: string;
  /** a connector for it; overrides win */
  config(overrides?: Partial<ConnectorConfig>): ConnectorConfig;
  cleanup(): Promise<void>;
}

const ENV: Record<TestDatabaseKind, string> = {
  postgres: 'TEST_POSTGRES_URL',
  mysql: 'TEST_MARIADB_URL',
  mssql: 'TEST_MSSQL_URL',
  oracle: 'TEST_ORACLE_URL',
};

const EXAMPLE: Record<TestDatabaseKind, string> = {
  postgres: 'postgres://postgres@127.0.0.1:5432/test',
  mysql: 'mysql://root@127.0.0.1:3306/test',
  mssql: "'mssql://sa:FhirBridge1!@127.0.0.1:1433/master?trustServerCertificate=true'",
  oracle: 'oracle://system:fhir-bridge@127.0.0.1:1521/FREEPDB1',
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function imagePins(): Record<TestDatabaseKind, string> {
  const pins = JSON.parse(readFileSync(path.join(root, 'docker', 'images.json'), 'utf8')) as Record<string, string>;
  return { postgres: pins.postgres!, mysql: pins.mariadb!, mssql: pins.mssql!, oracle: pins.oracle! };
}

function uniqueName(): string {
  return `fbt_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

function makeConfig(kind: TestDatabaseKind, url: string, schema: string): TestDatabase['config'] {
  return (overrides = {}) => ({
    file: path.join(root, 'connectors', `test-${kind}.yaml`),
    name: `test-${kind}`,
    kind,
    connection: url,
    timezone: 'UTC',
    mappings: [],
    ...(kind === 'postgres' ? { options: { schema } } : {}),
    ...overrides,
  });
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
async function onServer(kind: TestDatabaseKind, url: string): Promise<TestDatabase> {
  const schema = uniqueName();
  if (kind === 'postgres') {
    const { default: pg } = await import('pg');
    const admin = async (sql: string): Promise<void> => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`create schema ${schema}`);
    const u = new URL(url);
    u.searchParams.set('options', `-c search_path=${schema}`);
    return {
      kind,
      url: u.toString(),
      schema,
      config: makeConfig(kind, u.toString(), schema),
      cleanup: () => admin(`drop schema if exists ${schema} cascade`),
    };
  }
  if (kind === 'mysql') {
    const { default: mysql } = await import('mysql2/promise');
    const admin = async (sql: string): Promise<void> => {
      const conn = await mysql.createConnection({ uri: url.replace(/^mariadb:/, 'mysql:') });
      try {
        await conn.query(sql);
      } finally {
        await conn.end();
      }
    };
    await admin(`create database ${schema} character set utf8mb4`);
    const u = new URL(url);
    u.pathname = `/${schema}`;
    return { kind, url: u.toString(), schema, config: makeConfig(kind, u.toString(), schema), cleanup: () => admin(`drop database if exists ${schema}`) };
  }
  if (kind === 'mssql') {
    const { default: mssql } = await import('mssql');
    const { mssqlConfig } = await import('../../src/connectors/dialects/mssql-adapter.js');
    const admin = async (sql: string): Promise<void> => {
      const pool = await new mssql.ConnectionPool(mssqlConfig(url)).connect();
      try {
        await pool.request().batch(sql);
      } finally {
        await pool.close();
      }
    };
    await admin(`create database ${schema}`);
    const u = new URL(url);
    u.pathname = `/${schema}`;
    return {
      kind,
      url: u.toString(),
      schema,
      config: makeConfig(kind, u.toString(), schema),
      cleanup: () => admin(`alter database ${schema} set single_user with rollback immediate; drop database ${schema}`),
    };
  }
  // Oracle: a schema is a user. When the URL's user may create users (SYSTEM), the test gets a private one,
  // dropped by cleanup(); otherwise (an APP_USER) tests share the URL's schema, so Oracle tests always name
  // their tables with the `schema` prefix.
  const { default: oracledb } = await import('oracledb');
  const { oracleConfig } = await import('../../src/connectors/dialects/oracle-adapter.js');
  const admin = async (...statements: string[]): Promise<void> => {
    const conn = (await oracledb.getConnection(oracleConfig(url))) as { execute(sql: string): Promise<unknown>; close(): Promise<void> };
    try {
      for (const statement of statements) await conn.execute(statement);
    } finally {
      await conn.close();
    }
  };
  const password = `Fb${randomBytes(8).toString('hex')}`;
  try {
    await admin(`create user ${schema} identified by "${password}" quota unlimited on users`, `grant create session, create table to ${schema}`);
  } catch {
    await admin(`drop user ${schema} cascade`).catch(() => undefined);
    return { kind, url, schema, config: makeConfig(kind, url, schema), cleanup: async () => undefined };
  }
  // lets the tests watch their statements from the server side (v$sql); they skip that part without it
  await admin(`grant select any dictionary to ${schema}`).catch(() => undefined);
  const u = new URL(url);
  u.username = schema;
  u.password = password;
  return { kind, url: u.toString(), schema, config: makeConfig(kind, u.toString(), schema), cleanup: () => admin(`drop user ${schema} cascade`) };
}

async function grantOracleDictionary(connectString: string, systemPassword: string): Promise<void> {
  const { default: oracledb } = await import('oracledb');
  const system = (await oracledb.getConnection({ user: 'system', password: systemPassword, connectString })) as {
    execute(sql: string): Promise<unknown>;
    close(): Promise<void>;
  };
  try {
    await system.execute('grant select any dictionary to fhirbridge');
  } finally {
    await system.close();
  }
}

async function inContainer(kind: TestDatabaseKind): Promise<TestDatabase> {
  const image = imagePins()[kind];
  let url: string;
  let stop: () => Promise<unknown>;
  if (kind === 'postgres') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const c = await new PostgreSqlContainer(image).start();
    url = c.getConnectionUri();
    stop = () => c.stop();
  } else if (kind === 'mysql') {
    const { MariaDbContainer } = await import('@testcontainers/mariadb');
    const c = await new MariaDbContainer(image).start();
    url = c.getConnectionUri(true);
    stop = () => c.stop();
  } else if (kind === 'mssql') {
    const { MSSQLServerContainer } = await import('@testcontainers/mssqlserver');
    // The module waits for 'Recovery is complete' for at most 2 minutes; a first start on a slow machine
    // needs longer. The password meets SQL Server's policy (upper, lower, digit, symbol).
    const c = await new MSSQLServerContainer(image)
      .acceptLicense()
      .withPassword(`Fb1!${randomBytes(6).toString('hex')}`)
      .withStartupTimeout(300_000)
      .start();
    url = `mssql://${encodeURIComponent(c.getUsername())}:${encodeURIComponent(c.getPassword())}@${c.getHost()}:${c.getPort()}/master?trustServerCertificate=true`;
    stop = () => c.stop();
  } else {
    const { GenericContainer, Wait } = await import('testcontainers');
    const password = `Fb${randomBytes(6).toString('hex')}`;
    const c = await new GenericContainer(image)
      .withEnvironment({ ORACLE_PASSWORD: password, APP_USER: 'fhirbridge', APP_USER_PASSWORD: password })
      .withExposedPorts(1521)
      .withWaitStrategy(Wait.forLogMessage('DATABASE IS READY TO USE!'))
      .withStartupTimeout(300_000)
      .start();
    const where = `${c.getHost()}:${c.getMappedPort(1521)}/FREEPDB1`;
    url = `oracle://fhirbridge:${password}@${where}`;
    stop = () => c.stop();
    // Lets the tests watch their statements from the server side (v$sql): APP_USER only has CONNECT and
    // RESOURCE, SYSTEM may grant more. Without it those checks skip, so a failure here is not fatal.
    await grantOracleDictionary(where, password).catch(() => undefined);
  }
  const db = await onServer(kind, url);
  return { ...db, cleanup: async () => { await db.cleanup().catch(() => undefined); await stop(); } };
}

/** A private database of the kind, or `{ skip }` explaining how to get one (use with `describe.skipIf`). */
export async function testDatabase(kind: TestDatabaseKind): Promise<TestDatabase | { skip: string }> {
  const url = process.env[ENV[kind]];
  if (url) return onServer(kind, url);
  if (await dockerReachable()) return inContainer(kind);
  return { skip: `no ${kind} database: set ${ENV[kind]}=${EXAMPLE[kind]} (or start a Docker engine) to run` };
}
