// Benchmark sources: each one is a connector file in a scratch folder pointing at a copy of the Synthea
// sample (SQLite file, CSV folder, PostgreSQL schema, MariaDB database), and how to remove it afterwards.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexPkg from 'knex';
import { stringify } from 'yaml';
import { loadConnectorConfig } from '../src/connectors/index.js';
import { loadSample } from '../src/sample/load-sample.js';

const knex = knexPkg.default ?? knexPkg;

/** The package root: the nearest folder up holding package.json (bench/ and .bench-build/bench/ differ in depth). */
export const ROOT = packageRoot(dirname(fileURLToPath(import.meta.url)));
export const SAMPLE_CSV = join(ROOT, 'samples', 'synthea-11pt', 'csv');
/** What the embedded sample's default export runs: US Core and CARIN Blue Button. */
export const SYNTHEA_MAPPINGS = [join(ROOT, 'mappings', 'synthea'), join(ROOT, 'mappings', 'synthea-claims')];

function packageRoot(dir: string): string {
  if (existsSync(join(dir, 'package.json'))) return dir;
  const parent = dirname(dir);
  if (parent === dir) throw new Error('bench: no package.json above the benchmark sources');
  return packageRoot(parent);
}

export interface BenchSource {
  label: string;
  connectorFile: string;
  dispose(): Promise<void>;
}

export function postgresUrl(): string | undefined {
  return process.env.FHIR_BRIDGE_POSTGRES_URL || process.env.TEST_POSTGRES_URL || undefined;
}
export function mariadbUrl(): string | undefined {
  return process.env.FHIR_BRIDGE_MARIADB_URL || process.env.TEST_MARIADB_URL || undefined;
}

async function connectorIn(dir: string, settings: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'connector.yaml');
  await writeFile(file, stringify({ timezone: 'UTC', mappings: SYNTHEA_MAPPINGS, ...settings }));
  return file;
}

async function load(file: string, copies: number): Promise<void> {
  await loadSample(await loadConnectorConfig(file), { sample: 'synthea', copies, replace: true });
}

export async function csvSource(): Promise<BenchSource> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const file = await connectorIn(dir, { name: 'bench-csv', kind: 'csv', path: SAMPLE_CSV });
  return { label: 'CSV', connectorFile: file, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export async function sqliteSource(copies = 1): Promise<BenchSource> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const file = await connectorIn(dir, { name: 'bench-sqlite', kind: 'sqlite', path: join(dir, 'synthea.db') });
  await load(file, copies);
  return {
    label: copies > 1 ? `SQLite ×${copies}` : 'SQLite',
    connectorFile: file,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What differs between the server-backed sources: the knex client and how a private namespace is made. */
interface ServerNamespace {
  client: 'pg' | 'mysql2';
  /** statements taking the namespace's name as their one `??` binding */
  create: string;
  drop: string;
  /** the connector's settings for the namespace */
  connector(namespace: string): Record<string, unknown>;
  label: string;
}

/** The sample loaded into a private namespace on the server at `url`; dispose drops it again. */
async function serverSource(url: string, copies: number, server: ServerNamespace): Promise<BenchSource> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const namespace = `bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = async (sql: string): Promise<void> => {
    const db = knex({ client: server.client, connection: url, pool: { min: 0, max: 1 } });
    try {
      await db.raw(sql, [namespace]);
    } finally {
      await db.destroy();
    }
  };
  await admin(server.create);
  const file = await connectorIn(dir, server.connector(namespace));
  const dispose = async (): Promise<void> => {
    try {
      await admin(server.drop);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await load(file, copies);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { label: server.label, connectorFile: file, dispose };
}

export function postgresSource(url: string, copies = 1): Promise<BenchSource> {
  return serverSource(url, copies, {
    client: 'pg',
    create: 'CREATE SCHEMA ??',
    drop: 'DROP SCHEMA IF EXISTS ?? CASCADE',
    connector: (schema) => ({ name: 'bench-postgres', kind: 'postgres', connection: url, options: { schema } }),
    label: copies > 1 ? `PostgreSQL ×${copies}` : 'PostgreSQL',
  });
}

export function mariadbSource(url: string, copies = 1): Promise<BenchSource> {
  return serverSource(url, copies, {
    client: 'mysql2',
    create: 'CREATE DATABASE ??',
    drop: 'DROP DATABASE IF EXISTS ??',
    connector: (database) => {
      const target = new URL(url);
      target.pathname = `/${database}`;
      return { name: 'bench-mariadb', kind: 'mysql', connection: target.toString() };
    },
    label: 'MariaDB',
  });
}

/**
 * The sample loaded `copies` times into schema synthea_x<copies> of a database of its own on the server at
 * `url` (BENCH_PG_DATABASE, default fhir_bridge_bench), kept between runs: loaded only when missing, never
 * dropped (a ×100 load takes minutes). Drop the database to get rid of it.
 */
export async function keptPostgresSource(url: string, copies: number): Promise<BenchSource> {
  const database = process.env.BENCH_PG_DATABASE || 'fhir_bridge_bench';
  const schema = `synthea_x${copies}`;
  const admin = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    const exists = await admin.raw('SELECT 1 FROM pg_database WHERE datname = ?', [database]);
    if (exists.rows.length === 0) await admin.raw('CREATE DATABASE ??', [database]);
  } finally {
    await admin.destroy();
  }
  const target = new URL(url);
  target.pathname = `/${database}`;
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const file = await connectorIn(dir, { name: 'bench-postgres', kind: 'postgres', connection: target.toString(), options: { schema } });
  const db = knex({ client: 'pg', connection: target.toString(), pool: { min: 0, max: 1 } });
  try {
    const loaded = await db.raw('SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [
      schema,
      'bench_loaded',
    ]);
    if (loaded.rows.length === 0) {
      process.stderr.write(`loading the sample ×${copies} into ${database}.${schema} (once)…\n`);
      await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await db.raw('CREATE SCHEMA ??', [schema]);
      await load(file, copies);
      await db.raw('CREATE TABLE ??.bench_loaded (copies int)', [schema]);
      // fresh statistics and visibility map now, not from autovacuum in the middle of the first measurements
      await db.raw('VACUUM (ANALYZE)');
    }
  } finally {
    await db.destroy();
  }
  return { label: `PostgreSQL ×${copies}`, connectorFile: file, dispose: () => rm(dir, { recursive: true, force: true }) };
}
