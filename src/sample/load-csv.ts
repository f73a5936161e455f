// Loads any folder of CSV files into SQLite, PostgreSQL or MariaDB, as a table schema file says
// (table-schema.ts): column types, primary keys and the indexes the mappings' joins need. The OMOP CDM and
// MIMIC-IV samples are loaded this way; load-sample.ts stays the Synthea loader (ids rewritten per copy).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';
import { locateTable, readCsv, readCsvHeader, type CsvFile } from '../connectors/csv-files.js';
import { redactConnection, secretsOf } from '../connectors/redact.js';
import type { ConnectorConfig, Row } from '../connectors/types.js';
import { ConnectorError } from '../errors.js';
import type { BulkWriter } from './bulk-writer.js';
import { destinationFor, indexName, loadFailure, utcTimestampText, type Target } from './load-sample.js';
import type { CsvTableSpec, TableColumnKind, TableSchema } from './table-schema.js';

export interface LoadCsvOptions {
  /** the folder holding the CSV files (.csv, .csv.gz, ...; file names in any case) */
  folder: string;
  /** drop the schema's tables first when they exist (otherwise existing tables are an error) */
  replace?: boolean;
  /** only these tables of the schema (default: all) */
  tables?: string[];
  onTable?: (table: string, index: number, total: number) => void;
  /** rows per insert batch (default 1000) */
  batchSize?: number;
}

export interface LoadCsvResult {
  /** rows loaded per table */
  tables: Record<string, number>;
  durationMs: number;
}

interface PlannedColumn {
  name: string;
  kind: TableColumnKind;
  /** num columns: precision and scale the data needs */
  numeric?: { precision: number; scale: number };
}

interface PlannedTable {
  spec: CsvTableSpec;
  source: CsvFile;
  columns: PlannedColumn[];
}

const DECIMAL = /^-?(\d+)(?:\.(\d+))?$/;
const HAS_OFFSET = /(?:Z|[+-]\d\d(?::?\d\d)?)$/i;

/** The table's file, its header checked against the schema (any order, no column missing or extra). */
async function planTable(folder: string, spec: CsvTableSpec): Promise<PlannedTable> {
  const source = await locateTable({ folder, files: spec.file ? { [spec.name]: spec.file } : undefined }, spec.name);
  const header = await readCsvHeader(source);
  const expected = new Set(spec.columns.map((c) => c.name));
  const missing = spec.columns.map((c) => c.name).filter((c) => !header.includes(c));
  const extra = header.filter((c) => !expected.has(c));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not in the schema: ${extra.join(', ')}` : ''];
    throw new ConnectorError(`table ${spec.name}: ${source.file} does not have the schema's columns (${parts.filter(Boolean).join('; ')})`);
  }
  const columns: PlannedColumn[] = spec.columns.map((c) => ({ ...c }));
  const nums = columns.filter((c) => c.kind === 'num');
  if (nums.length > 0) {
    // NUMERIC(p,s) wide enough for every value: a float column would change 48.10 into 48.1 on one
    // database and not on another, and the exports must agree
    const stats = new Map(nums.map((c) => [c.name, { int: 1, scale: 0 }]));
    for await (const row of readCsv(source)) {
      for (const c of nums) {
        const v = row[c.name];
        if (v === null || v === undefined) continue;
        const m = DECIMAL.exec(String(v).trim());
        if (!m) throw new ConnectorError(`table ${spec.name}: column ${c.name} is num but holds ${JSON.stringify(v)} (${source.file})`);
        const s = stats.get(c.name)!;
        s.int = Math.max(s.int, m[1]!.replace(/^0+(?=\d)/, '').length);
        s.scale = Math.max(s.scale, m[2]?.length ?? 0);
      }
    }
    for (const c of nums) {
      const s = stats.get(c.name)!;
      c.numeric = { precision: Math.min(65, s.int + s.scale + 2), scale: Math.min(30, s.scale) };
    }
  }
  return { spec, source, columns };
}

function addColumn(t: Knex.CreateTableBuilder, target: Target, c: PlannedColumn): void {
  switch (c.kind) {
    case 'int':
      t.integer(c.name);
      return;
    case 'bigint':
      t.bigInteger(c.name);
      return;
    case 'num':
      if (target === 'sqlite') t.specificType(c.name, `NUMERIC(${c.numeric!.precision},${c.numeric!.scale})`);
      else t.decimal(c.name, c.numeric!.precision, c.numeric!.scale);
      return;
    case 'str':
      t.string(c.name, 255);
      return;
    case 'text':
      t.text(c.name);
      return;
    case 'date':
      t.date(c.name);
      return;
    case 'ts':
      if (target === 'sqlite') t.specificType(c.name, 'TIMESTAMP');
      else t.datetime(c.name, { useTz: false });
      return;
  }
}

/** Text as the column stores it: timestamps with an offset become UTC wall-clock time on the servers
 *  (SQLite keeps the text as written); everything else goes in as read. */
function converter(kind: TableColumnKind, target: Target): (v: string) => unknown {
  if (kind === 'ts' && target !== 'sqlite') return (v) => (HAS_OFFSET.test(v) ? utcTimestampText(v) : v.replace('T', ' '));
  return (v) => v;
}

/** Loads the CSV folder into the connector's database, table by table as the schema lists them. */
export async function loadCsv(config: ConnectorConfig, schema: TableSchema, options: LoadCsvOptions): Promise<LoadCsvResult> {
  const started = Date.now();
  let specs = schema.tables;
  if (options.tables) {
    const wanted = new Set(options.tables.map((t) => t.toLowerCase()));
    const unknown = [...wanted].filter((t) => !specs.some((s) => s.name === t));
    if (unknown.length > 0)
      throw new ConnectorError(`${schema.file} has no table ${unknown.join(', ')} (tables: ${specs.map((s) => s.name).join(', ')})`);
    specs = specs.filter((s) => wanted.has(s.name));
  }
  const planned: PlannedTable[] = [];
  for (const spec of specs) planned.push(await planTable(options.folder, spec));

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
    for (const { spec } of planned) if (await knex.schema.hasTable(spec.name)) existing.push(spec.name);
    if (existing.length > 0 && !options.replace)
      throw new ConnectorError(
        `${config.name}: tables ${existing.join(', ')} already exist in ${where}; use replace (--replace) to drop and reload them`,
      );
    for (const { spec } of planned) await knex.schema.dropTableIfExists(spec.name);
    for (const { spec, columns } of planned) {
      step = `create table ${spec.name}`;
      await knex.schema.createTable(spec.name, (t) => {
        for (const c of columns) addColumn(t, target, c);
        if (spec.primaryKey) t.primary(spec.primaryKey);
      });
    }
    writer = await openWriter();
    const size = Math.max(1, options.batchSize ?? 1000);
    for (const [i, { spec, source, columns }] of planned.entries()) {
      step = `load table ${spec.name}`;
      options.onTable?.(spec.name, i, planned.length);
      counts[spec.name] = 0;
      const names = columns.map((c) => c.name);
      const convert = columns.map((c) => converter(c.kind, target));
      let batch: Row[] = [];
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const rows = batch.map((row) =>
          names.map((name, k) => {
            const v = row[name];
            return v === null || v === undefined ? null : convert[k]!(String(v));
          }),
        );
        await writer!.insert(spec.name, names, rows);
        counts[spec.name]! += rows.length;
        batch = [];
      };
      await writer.begin();
      for await (const row of readCsv(source)) {
        batch.push(row);
        if (batch.length >= size) await flush();
      }
      await flush();
      await writer.commit();
    }
    // indexes after the rows: one pass per index instead of an update per inserted row
    for (const { spec } of planned) {
      if (spec.indexes.length === 0) continue;
      step = `index ${spec.name}`;
      await knex.schema.alterTable(spec.name, (t) => {
        for (const columns of spec.indexes) t.index(columns, indexName(spec.name, columns));
      });
    }
    if (target === 'postgres') {
      // planner statistics now, not when autovacuum gets to it (see load-sample.ts)
      for (const { spec } of planned) {
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
  return { tables: counts, durationMs: Date.now() - started };
}
