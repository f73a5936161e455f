// Finding a table's file in a CSV folder and reading it as a stream of rows. Shared by the CSV adapter and
// the sample loader, so both read a file the same way (lower-cased header, empty field → null, gzip).
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse, type Options } from 'csv-parse';
import { ConnectorError } from '../errors.js';
import { throwIfAborted } from './normalise.js';
import type { Row, SourceRowIssue } from './types.js';

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
  /** a WHATWG encoding label; utf-8 when absent */
  encoding?: string;
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

/** A line of a CSV file that did not become a row intact (the adapter adds its connector name). */
export type CsvLineIssue = Omit<SourceRowIssue, 'connector'>;

export interface ReadCsvOptions {
  signal?: AbortSignal;
  quote?: string | false;
  /** a WHATWG encoding label (utf-8 when absent): latin1, windows-1252, utf-16le… */
  encoding?: string;
  onHeader?: (columns: string[]) => void;
  /** told of each bad line, and the read carries on; without it the first bad line fails the read */
  onBadRow?: (issue: CsvLineIssue) => void;
}

/** The encoding label as TextDecoder knows it; a ConnectorError for one it does not. */
export function csvEncoding(label: string | undefined): string {
  if (label === undefined) return 'utf-8';
  try {
    return new TextDecoder(label).encoding;
  } catch {
    throw new ConnectorError(`encoding '${label}' is not one Node.js can decode (try utf-8, latin1, windows-1252 or utf-16le)`);
  }
}

/** A transform turning bytes in `encoding` into UTF-8 text, for readers that only take UTF-8. */
export function transcoder(encoding: string): Transform {
  const decoder = new TextDecoder(encoding);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, decoder.decode(chunk, { stream: true }));
    },
    flush(done) {
      done(null, decoder.decode());
    },
  });
}

/** A stream of a file's bytes on their way to a parser. */
export type PipelineStage = NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream;

/** Drops the first `count` lines of a byte stream (UTF-8 or a single-byte encoding: '\n' is the byte 0x0A). */
function skipLines(count: number): Transform {
  let left = count;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let at = 0;
      while (left > 0) {
        const nl = chunk.indexOf(0x0a, at);
        if (nl < 0) return done();
        at = nl + 1;
        left--;
      }
      done(null, at === 0 ? chunk : chunk.subarray(at));
    },
  });
}

const QUOTE_ERRORS = new Set(['CSV_INVALID_CLOSING_QUOTE', 'CSV_QUOTE_NOT_CLOSED']);

interface ParsedRecord {
  record: string[];
  /** first and last line of the file the record was read from */
  start: number;
  end: number;
}

/**
 * Rows of a CSV file: header row gives the (lower-cased) column names, empty fields become null. A line that
 * is not a row (wrong number of fields, broken quoting) goes to `onBadRow` with its line number and the read
 * carries on; without `onBadRow` it stops the read with a ConnectorError naming the file and line, since
 * skipping it silently would make an export quietly incomplete. An unterminated quote swallows the lines
 * after it into one bad record: the file is then read again from the line after the quote, so only the line
 * holding it is lost. With UTF-8 files, bytes that are not UTF-8 are a warning (the row is kept, the bytes
 * read as U+FFFD) naming line and column, since the usual cause is a latin1 file read without `encoding`.
 */
export async function* readCsv(source: CsvFile, options: ReadCsvOptions = {}): AsyncGenerator<Row> {
  const encoding = csvEncoding(options.encoding);
  const state: { header?: string[] } = {};
  let fromLine = 1;
  for (;;) {
    const restartAt = yield* readPass(source, options, encoding, fromLine, state);
    if (restartAt === undefined) break;
    fromLine = restartAt;
  }
  if (!state.header) options.onHeader?.([]);
}

/** One read of the file from `fromLine`; returns the line to read again from after a runaway quote. */
async function* readPass(
  source: CsvFile,
  options: ReadCsvOptions,
  encoding: string,
  fromLine: number,
  state: { header?: string[] },
): AsyncGenerator<Row, number | undefined> {
  const issues: CsvLineIssue[] = [];
  const bad = (line: number, message: string, extra: Partial<CsvLineIssue> = {}): void => {
    issues.push({ table: source.table, file: source.file, line, severity: 'error', message, ...extra });
  };
  // csv-parse's own from_line still reads quotes in the lines it skips, so those lines are cut off before it
  const offset = fromLine - 1;
  let lastEnd = offset;
  let restart: { start: number } | undefined;
  const input = createReadStream(source.file);
  const parserOptions: Options<ParsedRecord, string[]> = {
    delimiter: source.delimiter,
    bom: true,
    skip_empty_lines: true,
    quote: options.quote === false ? null : (options.quote ?? '"'),
    // checked below, so that a trailing delimiter on data rows (common in CMS RIF extracts) is accepted
    relax_column_count: true,
    skip_records_with_error: true,
    on_record: (record, context): ParsedRecord => {
      const parsed = { record, start: lastEnd + 1, end: context.lines + offset };
      lastEnd = parsed.end;
      return parsed;
    },
    on_skip: (err) => {
      if (restart || !err) return undefined;
      const start = lastEnd + 1;
      const at = (err as { lines?: number }).lines;
      const end = at === undefined ? start : at + offset;
      lastEnd = end;
      // A quote opened and never properly closed takes the lines after it along (and csv-parse stays
      // inside the quote after such an error): only the line it opened on is bad, the others are read
      // again as rows. Each such line costs a new read of the file up to it.
      if (end > start || QUOTE_ERRORS.has(err.code)) restart = { start };
      // csv-parse counts lines from where this read began
      bad(start, offset === 0 ? err.message : err.message.replace(/\bline (\d+)/g, (_, n: string) => `line ${Number(n) + offset}`));
      return undefined;
    },
  };
  // the untyped overload: on_record turns each record into a ParsedRecord, which the typed ones cannot say
  const parser = parse(parserOptions as unknown as Options);
  const stages: PipelineStage[] = [input];
  if (source.gzip) stages.push(createGunzip());
  if (encoding !== 'utf-8') stages.push(transcoder(encoding));
  if (offset > 0) stages.push(skipLines(offset));
  let failure: unknown;
  const done = pipeline([...stages, parser]).catch((err: unknown) => {
    failure ??= err;
  });
  const report = (): void => {
    for (const issue of issues.splice(0)) {
      if (!options.onBadRow) throw new ConnectorError(`table ${source.table}: ${source.file}:${issue.line}: ${issue.message}`);
      options.onBadRow(issue);
    }
  };
  let finished = false;
  try {
    for await (const { record, start } of parser as AsyncIterable<ParsedRecord>) {
      throwIfAborted(options.signal);
      if (restart && start >= restart.start) break;
      report();
      if (!state.header) {
        const header = record.map((h) => h.trim().toLowerCase());
        while (header.length > 1 && header[header.length - 1] === '') header.pop();
        state.header = header;
        options.onHeader?.(header);
        continue;
      }
      const header = state.header;
      if (record.length !== header.length && !(record.length === header.length + 1 && record[header.length] === '')) {
        bad(start, `wrong number of fields (expected ${header.length} as in the header, got ${record.length})`);
        report();
        continue;
      }
      const row: Row = {};
      let damaged: string | undefined;
      for (let i = 0; i < header.length; i++) {
        const v = record[i];
        if (damaged === undefined && encoding === 'utf-8' && v?.includes('\uFFFD')) damaged = header[i]!;
        row[header[i]!] = v === '' || v === undefined ? null : v;
      }
      if (damaged !== undefined) {
        const message = `bytes that are not valid UTF-8 in column ${damaged} (read as U+FFFD; set encoding: latin1 or windows-1252 in the connector?)`;
        bad(start + countNewlinesBefore(record, header.indexOf(damaged)), message, { severity: 'warning', column: damaged });
        report();
      }
      yield row;
    }
    if (!restart) {
      await done;
      if (failure) throw failure;
      report();
    }
    finished = !restart;
    if (restart) report();
    return restart ? restart.start + 1 : undefined;
  } catch (err) {
    throw csvFailure(source, err ?? failure, parser.info?.lines === undefined ? undefined : parser.info.lines + offset);
  } finally {
    if (!finished) {
      input.destroy();
      parser.destroy();
      await done;
    }
  }
}

/** Lines a record's fields before `index` span beyond the first (quoted fields may hold line breaks). */
function countNewlinesBefore(record: string[], index: number): number {
  let n = 0;
  for (let i = 0; i < index; i++) n += record[i]!.split('\n').length - 1;
  return n;
}

/** Column names of a file (its header row), lower-cased. */
export async function readCsvHeader(source: CsvFile, quote?: string | false, encoding?: string): Promise<string[]> {
  let columns: string[] = [];
  for await (const _row of readCsv(source, { quote, encoding, onHeader: (h) => (columns = h), onBadRow: () => {} })) break;
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
