// Cutting a big mapping run into key ranges, so that several workers share one table: the coordinator reads
// the run's first key column in the source's order once (keeping an evenly spaced sample of bounded size),
// picks bounds between equal shares of rows, and each part reads `from <= key < to` ordered by the key.
// Ordering by the key makes each part's rows, and so the export's files, the same on every run; the order is
// the key's, which is not the database's unordered scan order a single-part export writes in.
import type { Filter, SourceAdapter } from '../connectors/types.js';
import { logger } from '../log.js';
import { keyPart, type MappingRun } from './plan.js';
import type { KeyRange } from './part.js';

export interface SplitOptions {
  /** the source the coordinator reads the keys from */
  adapter: SourceAdapter;
  /** most parts one mapping run becomes */
  partsPerRun: number;
  /** fewest rows a part should get: a run smaller than twice this stays one part */
  minRowsPerPart: number;
  signal?: AbortSignal;
}

/** The fewest source rows a key-range part gets unless told otherwise (a run under twice this stays whole). */
export const DEFAULT_MIN_ROWS_PER_PART = 20_000;

/** Key-range parts per thread for a big mapping run when an export is shared by a process's threads. */
const PARTS_PER_THREAD = 2;

/**
 * How an export on `threads` threads of one process (the CLI's) cuts its big runs: a few parts per thread, so
 * one dominant mapping such as Observation does not keep one thread busy long after the others are done.
 */
export function splitForThreads(adapter: SourceAdapter, threads: number): Omit<SplitOptions, 'signal'> {
  return { adapter, partsPerRun: threads * PARTS_PER_THREAD, minRowsPerPart: DEFAULT_MIN_ROWS_PER_PART };
}

/** Keys kept while sampling; the sample halves (every other key) whenever it fills, so memory stays bounded. */
const SAMPLE_CAP = 4096;

/** The run limited to one range, each query ordered by the mapping's key (so a retry reads the same rows). */
export function sliceRun(run: MappingRun, range: KeyRange | undefined): MappingRun {
  if (!range) return run;
  const filters: Filter[] = range.nulls
    ? [{ column: range.column, op: 'is null' }]
    : [
        ...(range.from !== undefined ? [{ column: range.column, op: '>=' as const, value: range.from }] : []),
        ...(range.to !== undefined ? [{ column: range.column, op: '<' as const, value: range.to }] : []),
      ];
  const orderBy = run.mapping.source.key.length > 0 ? run.mapping.source.key : [range.column];
  return { ...run, queries: run.queries.map((q) => ({ ...q, where: [...(q.where ?? []), ...filters], orderBy })) };
}

/** The ranges a run is cut into, in key order (plus one for NULL keys when there are any); undefined: keep it whole. */
export async function keyRanges(run: MappingRun, options: SplitOptions): Promise<KeyRange[] | undefined> {
  const column = run.mapping.source.key[0];
  const query = run.queries[0];
  if (!column || !query || options.partsPerRun < 2) return undefined;
  const streamOptions = { batchSize: 5000, ...(options.signal ? { signal: options.signal } : {}) };
  // Only the key: the rows' other columns would be read (and parsed on this thread) twice, and a database can
  // leave out the joins and aggregates behind them.
  const keyOnly = { ...query, columns: [column] };
  // A small run is seen to be small without reading it all.
  const probe = 2 * options.minRowsPerPart;
  let probed = 0;
  for await (const _ of options.adapter.stream({ ...keyOnly, limit: probe }, streamOptions)) probed++;
  if (probed < probe) return undefined;

  const started = performance.now();
  let sample: unknown[] = [];
  let stride = 1;
  let rows = 0;
  let nulls = false;
  for await (const row of options.adapter.stream({ ...keyOnly, orderBy: [column] }, streamOptions)) {
    const value = row[column];
    if (value === null || value === undefined) {
      nulls = true;
      continue;
    }
    if (rows % stride === 0) {
      sample.push(value);
      if (sample.length >= SAMPLE_CAP) {
        sample = sample.filter((_, i) => i % 2 === 0);
        stride *= 2;
      }
    }
    rows++;
  }
  const parts = Math.min(options.partsPerRun, Math.floor(rows / options.minRowsPerPart));
  if (parts < 2) return undefined;
  const bounds: Array<string | number> = [];
  for (let i = 1; i < parts; i++) {
    const value = sample[Math.floor((i * sample.length) / parts)];
    const bound = typeof value === 'number' ? value : String(keyPart(value));
    // many rows sharing one key value: ranges may collapse, never repeat
    if (bounds.length === 0 || keyPart(bounds.at(-1)) !== keyPart(bound)) bounds.push(bound);
  }
  const ranges: KeyRange[] = [];
  for (let i = 0; i <= bounds.length; i++)
    ranges.push({ column, ...(i > 0 ? { from: bounds[i - 1]! } : {}), ...(i < bounds.length ? { to: bounds[i]! } : {}) });
  if (nulls) ranges.push({ column, nulls: true });
  logger('export').info(
    { mapping: run.mapping.name, rows, parts: ranges.length, ms: Math.round(performance.now() - started) },
    'mapping cut into key-range parts',
  );
  return ranges;
}
