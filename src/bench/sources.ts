// Benchmark sources: each one is a connector file in a scratch folder pointing at a copy of the Synthea
// sample (SQLite file, CSV folder, PostgreSQL schema, MariaDB database), and how to remove it afterwards.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexPkg from 'knex';
import { stringify } from 'yaml';
import { loadConnectorConfig } from '../connectors/index.js';
import { loadSample } from '../sample/load-sample.js';

const knex = knexPkg.default ?? knexPkg;

/** The package root (src/bench and dist/bench are both two levels below it). */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SAMPLE_CSV = join(ROOT, 'samples', 'synthea-11pt', 'csv');
export const SYNTHEA_MAPPINGS = join(ROOT, 'mappings', 'synthea');

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
  await writeFile(file, stringify({ timezone: 'UTC', mappings: [SYNTHEA_MAPPINGS], ...settings }));
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
  return { label: copies > 1 ? `SQLite ×${copies}` : 'SQLite', connectorFile: file, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export async function postgresSource(url: string, copies = 1): Promise<BenchSource> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('CREATE SCHEMA ??', [schema]);
  } finally {
    await admin.destroy();
  }
  const file = await connectorIn(dir, { name: 'bench-postgres', kind: 'postgres', connection: url, options: { schema } });
  const dispose = async (): Promise<void> => {
    const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
    try {
      await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await load(file, copies);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { label: copies > 1 ? `PostgreSQL ×${copies}` : 'PostgreSQL', connectorFile: file, dispose };
}

export async function mariadbSource(url: string, copies = 1): Promise<BenchSource> {
  const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-bench-'));
  const database = `bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = knex({ client: 'mysql2', connection: url, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('CREATE DATABASE ??', [database]);
  } finally {
    await admin.destroy();
  }
  const target = new URL(url);
  target.pathname = `/${database}`;
  const file = await connectorIn(dir, { name: 'bench-mariadb', kind: 'mysql', connection: target.toString() });
  const dispose = async (): Promise<void> => {
    const db = knex({ client: 'mysql2', connection: url, pool: { min: 0, max: 1 } });
    try {
      await db.raw('DROP DATABASE IF EXISTS ??', [database]);
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await load(file, copies);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { label: 'MariaDB', connectorFile: file, dispose };
}
