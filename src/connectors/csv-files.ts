// Finding a table's file in a CSV folder and reading it as a stream of rows. Shared by the CSV adapter and
// the sample loader, so both read a file the same way (lower-cased header, empty field → null, gzip).
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { ConnectorError } from '../errors.js';
import { throwIfAborted } from './normalise.js';
import type { Row } from './types.js';

export interface CsvFile {
  table: string;
  file: string;
  gzip: boolean;
  delimiter: string;
}

export interface CsvFolderOptions {
  folder: string;
  /** table → file (relative to the folder) when the name is not `<table>.csv` and friends */
  files?: Record<string, string>;
  delimiter?: string;
  /** quote character; false for files that never quote (some fixed extracts contain stray quotes) */
  quote?: string | false;
}

const FILE_PATTERN = /^(.+?)\.(csv|txt|tsv|dat)(\.gz)?$/i;
const PREFERENCE = ['.csv', '.csv.gz', '.txt', '.txt.gz', '.tsv', '.tsv.gz', '.dat', '.dat.gz'];

/** Table names the folder offers (file stems, lower-cased) plus those of the `files` map; a file the map names
 *  is its table's, not a table of its own. */
export async function listTables(options: CsvFolderOptions): Promise<string[]> {
  const names = new Set(Object.keys(options.files ?? {}).map((t) => t.toLowerCase()));
  const mapped = new Set(Object.values(options.files ?? {}).map((f) => path.resolve(options.folder, f)));
  for (const entry of await readFolder(options.folder)) {
    const m = FILE_PATTERN.exec(entry);
    if (m && !mapped.has(path.resolve(options.folder, entry))) names.add(m[1]!.toLowerCase());
  }
  return [...names].sort();
}

async function readFolder(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (err) {
    throw new ConnectorError(`CSV folder ${folder} cannot be read: ${(err as Error).message}`);
  }
}

/** The file holding a table, or a ConnectorError listing what the folder has. */
export async function locateTable(options: CsvFolderOptions, table: string): Promise<CsvFile> {
  const wanted = table.toLowerCase();
  const mapped = Object.entries(options.files ?? {}).find(([t]) => t.toLowerCase() === wanted)?.[1];
  let file: string | undefined;
  if (mapped) {
    file = path.resolve(options.folder, mapped);
    try {
      await stat(file);
    } catch {
      throw new ConnectorError(`table ${table}: file ${file} (from 'files') does not exist`);
    }
  } else {
    const entries = await readFolder(options.folder);
    const candidates = entries.filter((e) => FILE_PATTERN.exec(e)?.[1]?.toLowerCase() === wanted);
    const rank = (e: string): number => {
      const ext = e.slice(FILE_PATTERN.exec(e)![1]!.length).toLowerCase();
      const i = PREFERENCE.indexOf(ext);
      return i < 0 ? PREFERENCE.length : i;
    };
    candidates.sort((a, b) => rank(a) - rank(b));
    if (candidates.length === 0) {
      const have = await listTables(options);
      throw new ConnectorError(
        `table ${table}: no file ${table}.csv, .csv.gz, .txt or .tsv in ${options.folder} (tables there: ${have.join(', ') || 'none'})`,
      );
    }
    file = path.join(options.folder, candidates[0]!);
  }
  const lower = file.toLowerCase();
  const gzip = lower.endsWith('.gz');
  const bare = gzip ? lower.slice(0, -3) : lower;
  const delimiter = options.delimiter ?? (bare.endsWith('.tsv') ? '\t' : ',');
  return { table, file, gzip, delimiter };
}

/**
 * Rows of a CSV file: header row gives the (lower-cased) column names, empty fields become null. A
 * malformed row (wrong number of fields, broken quoting) stops the read with a ConnectorError naming the
 * file and line: silently skipping rows would make an export quietly incomplete.
 */
export async function* readCsv(
  source: CsvFile,
  options: { signal?: AbortSignal; quote?: string | false; onHeader?: (columns: string[]) => void } = {},
): AsyncGenerator<Row> {
  const input = createReadStream(source.file);
  const parser = parse({
    delimiter: source.delimiter,
    bom: true,
    skip_empty_lines: true,
    quote: options.quote === false ? null : (options.quote ?? '"'),
    // checked below, so that a trailing delimiter on data rows (common in CMS RIF extracts) is accepted
    relax_column_count: true,
    info: true,
  });
  let failure: unknown;
  const done = (source.gzip ? pipeline(input, createGunzip(), parser) : pipeline(input, parser)).catch((err: unknown) => {
    failure ??= err;
  });
  let header: string[] | undefined;
  let finished = false;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      throwIfAborted(options.signal);
      if (!header) {
        header = record.map((h) => h.trim().toLowerCase());
        while (header.length > 1 && header[header.length - 1] === '') header.pop();
        options.onHeader?.(header);
        continue;
      }
      if (record.length !== header.length && !(record.length === header.length + 1 && record[header.length] === '')) {
        throw new ConnectorError(
          `table ${source.table}: ${source.file}:${info.lines}: wrong number of fields (expected ${header.length} as in the header, got ${record.length})`,
        );
      }
      const row: Row = {};
      for (let i = 0; i < header.length; i++) {
        const v = record[i];
        row[header[i]!] = v === '' || v === undefined ? null : v;
      }
      yield row;
    }
    await done;
    if (failure) throw failure;
    finished = true;
    if (!header) options.onHeader?.([]);
  } catch (err) {
    throw csvFailure(source, err ?? failure, parser.info?.lines);
  } finally {
    if (!finished) {
      input.destroy();
      parser.destroy();
      await done;
    }
  }
}

/** Column names of a file (its header row), lower-cased. */
export async function readCsvHeader(source: CsvFile, quote?: string | false): Promise<string[]> {
  let columns: string[] = [];
  for await (const _row of readCsv(source, { quote, onHeader: (h) => (columns = h) })) break;
  return columns;
}

function csvFailure(source: CsvFile, err: unknown, linesRead: number | undefined): Error {
  if (err instanceof ConnectorError) return err;
  if ((err as Error)?.name === 'AbortError') return err as Error;
  const e = err as { message?: string; code?: string; lines?: number };
  const line = e.lines ?? linesRead;
  const where = line ? `${source.file}:${line}` : source.file;
  if (e.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' || e.code === 'CSV_RECORD_DONT_MATCH_COLUMNS_LENGTH')
    return new ConnectorError(`table ${source.table}: ${where}: wrong number of fields (${e.message ?? ''})`);
  if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR')
    return new ConnectorError(`table ${source.table}: ${source.file} is not a valid gzip file (${e.message ?? e.code})`);
  return new ConnectorError(`table ${source.table}: ${where}: ${e.message ?? String(err)}`);
}
