// Loads the shipped Synthea sample into SQLite, PostgreSQL or MariaDB with real column types and keys, so
// the SQL connectors have the same data as the CSV one. Rows stream from the CSV files in batches; with
// `copies: N` the sample is loaded N times with every id rewritten per copy (benchmark volumes).
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import { ConnectorError } from '../errors.js';
import { locateTable, readCsv, readCsvHeader, type CsvFile, type CsvLineIssue } from '../connectors/csv-files.js';
import { connectorFailure, redactConnection, redactText, secretsOf } from '../connectors/redact.js';
import type { ConnectorConfig, Row } from '../connectors/types.js';
import { openMysqlWriter, openPostgresWriter, openSqliteWriter, type BulkWriter } from './bulk-writer.js';
import { addChangeTriggers, addLastUpdatedColumn, createTombstoneTable } from './change-tracking.js';
import {
  LAST_UPDATED_COLUMN,
  SAMPLE_LAST_UPDATED,
  SYNTHEA_TABLES,
  TOMBSTONE_TABLE,
  type ColumnKind,
  type TableSpec,
} from './synthea-schema.js';

export interface LoadProgress {
  table: string;
  /** 1-based copy being loaded */
  copy: number;
  /** rows of this table loaded so far (all copies) */
  rows: number;
  tablesDone: number;
  tablesTotal: number;
}

export interface LoadSampleOptions {
  sample?: 'synthea';
  /** load the sample this many times over, ids rewritten per copy (default 1) */
  copies?: number;
  /** drop the sample's tables first when they exist (otherwise existing tables are an error) */
  replace?: boolean;
  onProgress?: (progress: LoadProgress) => void;
  /** source rows read per batch (default 1000); each batch is written once per copy */
  batchSize?: number;
  /** the folder of Synthea CSV files to load (default: the shipped sample, sampleFolder()) */
  folder?: string;
  /** told of each CSV line that was not loaded (or was, with damaged bytes) */
  onBadRow?: (issue: CsvLineIssue) => void;
}

export interface LoadSampleResult {
  /** rows loaded per table */
  tables: Record<string, number>;
  durationMs: number;
  /** CSV lines skipped (or loaded with damaged bytes), in the order met */
  badRows: CsvLineIssue[];
}

/** The folder with the shipped Synthea CSV files (src/sample and dist/sample are two levels below the root). */
export function sampleFolder(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'samples', 'synthea-11pt', 'csv');
}

/** The value a copy k gives an id: unchanged for the first copy, `<id>-k<k>` after. */
export function copyId(value: string, copy: number): string {
  return copy <= 1 ? value : `${value}-k${copy}`;
}

/** An ISO instant as UTC wall-clock text, the form a TIMESTAMP/DATETIME column stores it in. */
export function utcTimestampText(value: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/(\.000)?Z$/, '');
}

interface ColumnPlan {
  name: string;
  kind: ColumnKind;
  /** for num columns: precision and scale found in the data, or undefined when some value is not a decimal */
  numeric?: { precision: number; scale: number };
}

const DECIMAL = /^-?(\d+)(?:\.(\d+))?$/;

/** Column types from the data: NUMERIC(p,s) wide enough for every value, text when a value is not a decimal. */
async function planColumns(spec: TableSpec, source: CsvFile): Promise<ColumnPlan[]> {
  const header = await readCsvHeader(source);
  const expected = spec.columns.map((c) => c.name);
  if (header.join(',') !== expected.join(','))
    throw new ConnectorError(`sample table ${spec.name}: ${source.file} has columns ${header.join(',')}, expected ${expected.join(',')}`);
  const plans: ColumnPlan[] = spec.columns.map((c) => ({ ...c }));
  const nums = plans.filter((p) => p.kind === 'num');
  if (nums.length === 0) return plans;
  const stats = new Map(nums.map((p) => [p.name, { int: 1, scale: 0, ok: true }]));
  // bad lines are reported once, by the load itself (loadRows)
  for await (const row of readCsv(source, { onBadRow: () => {} })) {
    for (const p of nums) {
      const v = row[p.name];
      if (v === null) continue;
      const s = stats.get(p.name)!;
      const m = DECIMAL.exec(String(v));
      if (!m) s.ok = false;
      else {
        s.int = Math.max(s.int, m[1]!.replace(/^0+(?=\d)/, '').length);
        s.scale = Math.max(s.scale, m[2]?.length ?? 0);
      }
    }
  }
  for (const p of nums) {
    const s = stats.get(p.name)!;
    // two spare integer digits: benchmarks may scale amounts; a failed load is worse than a wider column
    if (s.ok && s.int + s.scale <= 36) p.numeric = { precision: s.int + s.scale + 2, scale: s.scale };
    else p.kind = 'str';
  }
  return plans;
}

export type Target = 'sqlite' | 'postgres' | 'mysql';

function addColumn(t: Knex.CreateTableBuilder, target: Target, plan: ColumnPlan): void {
  switch (plan.kind) {
    case 'id':
    case 'code':
      t.string(plan.name, 64);
      return;
    case 'str':
      t.string(plan.name, 255);
      return;
    case 'text':
      t.text(plan.name);
      return;
    case 'date':
      t.date(plan.name);
      return;
    case 'ts':
      // UTC wall-clock time without a zone (see valueConverter); SQLite keeps the ISO text as it is
      if (target === 'sqlite') t.specificType(plan.name, 'TIMESTAMP');
      else t.datetime(plan.name, { useTz: false });
      return;
    case 'int':
      t.integer(plan.name);
      return;
    case 'num':
      if (target === 'sqlite') t.specificType(plan.name, `NUMERIC(${plan.numeric!.precision},${plan.numeric!.scale})`);
      else t.decimal(plan.name, plan.numeric!.precision, plan.numeric!.scale);
      return;
  }
}

export interface Destination {
  /** knex for the DDL (types, keys and constraint names per dialect) */
  knex: Knex;
  target: Target;
  /** the rows go through the driver itself (see bulk-writer.ts) */
  openWriter(): Promise<BulkWriter>;
}

/** knex prints failed pool acquisitions (with a stack trace) to the console itself; the failure reaches the
 *  caller as an error anyway, located and without secrets, so nothing is printed here. */
const QUIET = { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined };

/**
 * What a failed load throws (load-sample and load-csv alike): a missing database says to create it first;
 * anything else names the step that failed. Both without the connection's secrets.
 */
export function loadFailure(config: ConnectorConfig, where: string, step: string, err: unknown, secrets: string[]): ConnectorError {
  const missing = missingDatabase(err);
  if (missing === undefined) return connectorFailure(config.name, step, err, secrets);
  const name = missing ? ` ${missing}` : '';
  return new ConnectorError(
    redactText(
      `${config.name}: the database${name} does not exist on ${where}; create it first (CREATE DATABASE${name || ' <name>'};)`,
      secrets,
    ),
  );
}

/** SQLSTATE 3D000 / MariaDB 1049: the connection names a database the server does not have. */
function missingDatabase(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (e?.code !== '3D000' && e?.code !== 'ER_BAD_DB_ERROR') return undefined;
  return typeof e.message === 'string' ? (/database "?'?([^"']+)["']/i.exec(e.message)?.[1] ?? '') : '';
}

export function destinationFor(config: ConnectorConfig): Destination {
  const kind = config.kind;
  if (kind === 'sqlite') {
    if (!config.path) throw new ConnectorError(`${config.name}: a sqlite connector needs 'path'`);
    const knex = knexPkg.knex({
      client: 'better-sqlite3',
      log: QUIET,
      connection: { filename: config.path },
      useNullAsDefault: true,
      pool: {
        afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
          conn.pragma('foreign_keys = ON');
          done(null, conn);
        },
      },
    });
    return { knex, target: 'sqlite', openWriter: async () => openSqliteWriter(config.path!) };
  }
  if (kind === 'postgres') {
    const c = config.connection;
    const schema = typeof config.options?.schema === 'string' ? config.options.schema : undefined;
    const knex = knexPkg.knex({
      client: 'pg',
      log: QUIET,
      connection: typeof c === 'string' ? { connectionString: c } : (c as Knex.PgConnectionConfig),
      searchPath: schema ? [schema] : undefined,
      pool: {
        min: 0,
        max: 2,
        afterCreate: (
          conn: { query(sql: string, cb: (err: Error | null) => void): void },
          done: (err: Error | null, conn: unknown) => void,
        ) => conn.query(`SET TIME ZONE 'UTC'`, (err) => done(err, conn)),
      },
    });
    return { knex, target: 'postgres', openWriter: () => openPostgresWriter(c as string | Record<string, unknown>, schema) };
  }
  if (kind === 'mysql') {
    const c = config.connection;
    let connection: Record<string, unknown>;
    if (typeof c === 'string') {
      const url = new URL(c.replace(/^mariadb:/i, 'mysql:'));
      connection = {
        host: url.hostname,
        port: url.port ? Number(url.port) : 3306,
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      };
    } else connection = { ...(c as Record<string, unknown>) };
    const knex = knexPkg.knex({
      client: 'mysql2',
      log: QUIET,
      connection: { ...connection, timezone: 'Z', dateStrings: true, multipleStatements: false },
      pool: {
        min: 0,
        max: 2,
        afterCreate: (
          conn: { query(sql: string, cb: (err: Error | null) => void): void },
          done: (err: Error | null, conn: unknown) => void,
        ) => conn.query(`SET time_zone = '+00:00'`, (err) => done(err, conn)),
      },
    });
    return { knex, target: 'mysql', openWriter: () => openMysqlWriter(connection) };
  }
  throw new ConnectorError(`${config.name}: the sample can be loaded into sqlite, postgres or mysql (MariaDB), not ${kind}`);
}

/** Loads the Synthea sample into the connector's database. */
export async function loadSample(config: ConnectorConfig, options: LoadSampleOptions = {}): Promise<LoadSampleResult> {
  const started = Date.now();
  const sample = options.sample ?? (config.sample as 'synthea' | undefined) ?? 'synthea';
  if (sample !== 'synthea') throw new ConnectorError(`unknown sample '${String(sample)}' (available: synthea)`);
  const copies = options.copies ?? 1;
  if (!Number.isInteger(copies) || copies < 1) throw new ConnectorError(`copies must be a whole number of at least 1, got ${copies}`);
  const folder = { folder: options.folder ?? sampleFolder() };
  const badRows: CsvLineIssue[] = [];
  const onBadRow = (issue: CsvLineIssue): void => {
    badRows.push(issue);
    options.onBadRow?.(issue);
  };
  const sources = new Map<string, CsvFile>();
  const plans = new Map<string, ColumnPlan[]>();
  for (const spec of SYNTHEA_TABLES) {
    const source = await locateTable(folder, spec.name);
    sources.set(spec.name, source);
    plans.set(spec.name, await planColumns(spec, source));
  }

  if (config.kind === 'sqlite' && config.path && config.path !== ':memory:') await mkdir(path.dirname(config.path), { recursive: true });
  const secrets = secretsOf(config.connection);
  const { knex, target, openWriter } = destinationFor(config);
  const where = redactConnection(config);
  const counts: Record<string, number> = {};
  let step = `connect to ${where}`;
  let writer: BulkWriter | undefined;
  try {
    await knex.raw('select 1');
    step = 'prepare tables';
    const existing: string[] = [];
    for (const spec of SYNTHEA_TABLES) if (await knex.schema.hasTable(spec.name)) existing.push(spec.name);
    if (await knex.schema.hasTable(TOMBSTONE_TABLE)) existing.push(TOMBSTONE_TABLE);
    if (existing.length > 0 && !options.replace)
      throw new ConnectorError(
        `${config.name}: tables ${existing.join(', ')} already exist in ${where}; use replace (--replace) to drop and reload them`,
      );
    for (const spec of [...SYNTHEA_TABLES].reverse()) await knex.schema.dropTableIfExists(spec.name);
    await knex.schema.dropTableIfExists(TOMBSTONE_TABLE);
    for (const spec of SYNTHEA_TABLES) {
      step = `create table ${spec.name}`;
      await knex.schema.createTable(spec.name, (t) => {
        for (const plan of plans.get(spec.name)!) addColumn(t, target, plan);
        addLastUpdatedColumn(t, knex, target);
        if (spec.primaryKey) t.primary(spec.primaryKey);
        // MariaDB needs an index for each foreign key (it would make one itself): declared here so there is
        // one index per column. SQLite and PostgreSQL get theirs after the load, which builds them in one pass.
        if (target === 'mysql') for (const columns of spec.indexes) t.index(columns, indexName(spec.name, columns));
        // PostgreSQL checks foreign keys row by row while loading but in one pass when they are added to
        // full tables, which is several times faster; they are added after the load below.
        if (target !== 'postgres') for (const fk of spec.foreignKeys) t.foreign(fk.column).references('id').inTable(fk.references);
      });
    }
    step = `connect to ${where}`;
    writer = await openWriter();
    let tablesDone = 0;
    for (const spec of SYNTHEA_TABLES) {
      step = `load table ${spec.name}`;
      counts[spec.name] = 0;
      await writer.begin();
      const source = sources.get(spec.name)!;
      await loadRows(writer, target, spec, plans.get(spec.name)!, source, copies, options.batchSize, onBadRow, (copy, n) => {
        counts[spec.name]! += n;
        options.onProgress?.({ table: spec.name, copy, rows: counts[spec.name]!, tablesDone, tablesTotal: SYNTHEA_TABLES.length });
      });
      await writer.commit();
      tablesDone++;
    }
    if (target !== 'mysql') {
      for (const spec of SYNTHEA_TABLES) {
        if (spec.indexes.length === 0) continue;
        step = `index ${spec.name}`;
        await knex.schema.alterTable(spec.name, (t) => {
          for (const columns of spec.indexes) t.index(columns, indexName(spec.name, columns));
        });
      }
    }
    step = `create table ${TOMBSTONE_TABLE}`;
    await createTombstoneTable(knex, target);
    for (const spec of SYNTHEA_TABLES) {
      step = `add change tracking to ${spec.name}`;
      await addChangeTriggers(knex, target, spec);
    }
    if (target === 'postgres') {
      for (const spec of SYNTHEA_TABLES) {
        if (spec.foreignKeys.length === 0) continue;
        step = `add foreign keys of ${spec.name}`;
        await knex.schema.alterTable(spec.name, (t) => {
          for (const fk of spec.foreignKeys) t.foreign(fk.column).references('id').inTable(fk.references);
        });
      }
      // Planner statistics now rather than whenever autovacuum gets to it: without them PostgreSQL guesses
      // row counts that pick sequential scans and JIT-compile the first exports' queries.
      for (const spec of SYNTHEA_TABLES) {
        step = `analyze ${spec.name}`;
        await knex.raw('analyze ??', [spec.name]);
      }
    }
  } catch (err) {
    await writer?.rollback();
    throw loadFailure(config, where, step, err, secrets);
  } finally {
    await knex.destroy();
    await writer?.close().catch(() => undefined);
  }
  return { tables: counts, durationMs: Date.now() - started, badRows };
}

/** `<table>_<columns>_idx`: unique per database (SQLite and MariaDB index names are not per table). */
export function indexName(table: string, columns: string[]): string {
  return `${table}_${columns.join('_')}_idx`;
}

/**
 * Streams one CSV file into its table: each batch of source rows is inserted once per copy, so the file is
 * read once whatever `copies` is, and only one batch is held in memory.
 */
async function loadRows(
  writer: BulkWriter,
  target: Target,
  spec: TableSpec,
  plans: ColumnPlan[],
  source: CsvFile,
  copies: number,
  batchSize: number | undefined,
  onBadRow: (issue: CsvLineIssue) => void,
  onBatch: (copy: number, rows: number) => void,
): Promise<void> {
  const size = Math.max(1, batchSize ?? 1000);
  const names = [...plans.map((p) => p.name), LAST_UPDATED_COLUMN];
  const converters = Array.from({ length: copies }, (_, k) => plans.map((p) => valueConverter(p.kind, target, k + 1)));
  const loadedAt = target === 'sqlite' ? SAMPLE_LAST_UPDATED : utcTimestampText(SAMPLE_LAST_UPDATED);
  let batch: Row[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    for (let k = 0; k < copies; k++) {
      const convert = converters[k]!;
      const rows = batch.map((row) =>
        names.map((name, i) => {
          if (i === plans.length) return loadedAt;
          const v = row[name];
          return v === null || v === undefined ? null : convert[i]!(v as string);
        }),
      );
      await writer.insert(spec.name, names, rows);
      onBatch(k + 1, rows.length);
    }
    batch = [];
  };
  for await (const row of readCsv(source, { onBadRow })) {
    batch.push(row);
    if (batch.length >= size) await flush();
  }
  await flush();
}

function valueConverter(kind: ColumnKind, target: Target, copy: number): (v: string) => unknown {
  if (kind === 'id') return (v) => copyId(v, copy);
  // SQLite stores the ISO text as written (its TIMESTAMP is only a name); servers get UTC wall-clock time.
  if (kind === 'ts' && target !== 'sqlite') return utcTimestampText;
  return (v) => v;
}
