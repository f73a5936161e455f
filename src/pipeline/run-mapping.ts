// One mapping run, the unit of work of an export: stream the run's queries in batches, fetch each batch's
// child rows with one IN query per child, map every row, and write the resources the run emits and the row
// issues it owns to the sink. It needs nothing but an adapter, a sink and a tally, so it can run wherever
// those are (the CLI, a job, a worker).
import { createHash } from 'node:crypto';
import pRetry from 'p-retry';
import type { Row, SourceAdapter, SourceQuery } from '../connectors/types.js';
import { ConnectorError, formatLocation } from '../errors.js';
import type { CompiledMapping, FhirResource, MapResult } from '../mapping/types.js';
import type { ResourceSink } from '../sinks/types.js';
import { answersAlongside, fetchChildRows, type ChildRows } from './child-rows.js';
import type { ElementSubsetter } from './elements.js';
import type { ExportTally } from './export-tally.js';
import { issueOutcome } from './issue-outcome.js';
import type { MappingRun } from './plan.js';
import type { SourceIssueListener } from './source-issues.js';
import type { ValidationIssue } from '../validation/index.js';
import { type ResourceCheck, validationOutcome, validationReason } from './validate-resource.js';

export interface MappingRunContext {
  adapter: SourceAdapter;
  sink: ResourceSink;
  batchSize: number;
  signal: AbortSignal;
  tally: ExportTally;
  /** `_elements`: applied to each resource before it is written */
  subset?: ElementSubsetter;
  /** how often a query that failed transiently is re-opened (default DEFAULT_RETRY) */
  retry?: Partial<RetryPolicy>;
  /** told of each transient failure about to be retried (for logs) */
  onRetry?: (info: RetryInfo) => void;
  /** lines the source could not read as rows, written once per export */
  sourceIssues?: SourceIssueListener;
  /** profile validation of each resource before it is written (absent: no validation); a resource with an
   *  error goes to the error file instead of the output */
  validate?: ResourceCheck;
}

export interface RetryInfo {
  mapping: string;
  error: ConnectorError;
  /** the attempt that failed (1 = the first read) */
  attempt: number;
  /** rows of the query already written, skipped on the next attempt */
  rowsWritten: number;
}

export async function runMapping(run: MappingRun, ctx: MappingRunContext): Promise<void> {
  const write = batchWriter(run, ctx);
  for (const query of run.queries) await readQuery(run, query, write, ctx);
  ctx.tally.runDone(run.mapping.name);
}

/**
 * Reads one query in batches. A transient source failure (the connection lost, a deadlock; see
 * connectors/transient.ts) re-opens the query and carries on after the rows already written: the retried
 * unit is "the rest of this query", so nothing is written twice and a finished query is never read again.
 * Rows are skipped by count, and since a source query has no ORDER BY of its own, the keys of the skipped
 * rows are checked (one running hash) to be those written before; a source that comes back in another
 * order fails instead of duplicating or losing resources. The batch being built when the failure came is
 * simply read again (its rows are written only once the batch is complete, children included).
 */
async function readQuery(run: MappingRun, query: SourceQuery, write: BatchWriter, ctx: MappingRunContext): Promise<void> {
  const { signal, batchSize } = ctx;
  const keyText = (row: Row): string => JSON.stringify(run.mapping.keyOf(row));
  let written = 0;
  let writtenDigest = createHash('sha1').digest('hex');
  let attempt = 0;
  const attemptOnce = async (): Promise<void> => {
    attempt++;
    const hash = createHash('sha1');
    // key texts not yet hashed: one update per batch instead of two per row (the digest is the same)
    let keys = '';
    const digest = (): string => {
      hash.update(keys);
      keys = '';
      return hash.copy().digest('hex');
    };
    let read = 0;
    let batch: Row[] = [];
    // the batch before this one, being mapped and written (none yet)
    let writing: Promise<void> = Promise.resolve();
    const flush = async (): Promise<void> => {
      const rows = batch;
      const rowsDigest = digest();
      batch = [];
      // This batch's child queries start now, so that the database answers them while the batch before is
      // mapped and written (read ahead by one batch, for a database server only: see batchWriter).
      const children = write.ahead ? write.children(rows) : undefined;
      // handled where it is awaited, below or in the next flush; until then a failure must not count as unhandled
      children?.catch(() => undefined);
      try {
        await writing;
      } catch (err) {
        await children?.catch(() => undefined);
        throw err;
      }
      const done = (async () => {
        await write.rows(rows, await (children ?? write.children(rows)));
        await ctx.sourceIssues?.flush();
        written += rows.length;
        writtenDigest = rowsDigest;
      })();
      writing = done;
      if (write.ahead) done.catch(() => undefined);
      else await done;
    };
    const onBadRow = ctx.sourceIssues?.note;
    try {
      for await (const row of ctx.adapter.stream(query, { signal, batchSize, ...(onBadRow ? { onBadRow } : {}) })) {
        signal.throwIfAborted();
        keys += keyText(row) + '\n';
        if (++read <= written) {
          if (read === written && digest() !== writtenDigest) throw reorderedOnRetry(run, written);
          continue;
        }
        batch.push(row);
        if (batch.length >= batchSize) await flush();
      }
      signal.throwIfAborted();
      if (read < written) throw reorderedOnRetry(run, written);
      if (batch.length > 0) await flush();
      await writing;
    } catch (err) {
      // the batch still being written counts (or not) before the query is read again
      await writing.catch(() => undefined);
      throw err;
    }
    await ctx.sourceIssues?.flush();
  };
  const policy = { ...DEFAULT_RETRY, ...ctx.retry };
  try {
    await pRetry(attemptOnce, {
      retries: policy.retries,
      minTimeout: policy.minTimeoutMs,
      maxTimeout: policy.maxTimeoutMs,
      factor: 2,
      randomize: false,
      signal,
      shouldRetry: ({ error }) => error instanceof ConnectorError && error.transient && !signal.aborted,
      onFailedAttempt: ({ error, retriesLeft }) => {
        if (error instanceof ConnectorError && error.transient && retriesLeft > 0 && !signal.aborted)
          ctx.onRetry?.({ mapping: run.mapping.name, error, attempt: attempt, rowsWritten: written });
      },
    });
  } catch (err) {
    if (signal.aborted || !(err instanceof ConnectorError)) throw err;
    throw locatedFailure(run, err, attempt);
  }
}

export interface RetryPolicy {
  /** further attempts after the first fails transiently */
  retries: number;
  /** wait before the first retry; doubled for each further one up to maxTimeoutMs */
  minTimeoutMs: number;
  maxTimeoutMs: number;
}

/** About 8 s of trying (0.5 + 1 + 2 + 4): long enough for a failover or a restart, short enough to report. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 4, minTimeoutMs: 500, maxTimeoutMs: 4000 };

/** A source failure, as the mapping run saw it: which mapping (file:line) read what, after how many tries. */
function locatedFailure(run: MappingRun, err: ConnectorError, attempts: number): ConnectorError {
  const { mapping } = run;
  const tries = attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
  return new ConnectorError(
    `mapping ${mapping.name} (${formatLocation(mapping.location)}, ${mapping.source.label}): ${err.message}${tries}`,
    {
      cause: err,
      transient: err.transient,
    },
  );
}

function reorderedOnRetry(run: MappingRun, written: number): ConnectorError {
  return new ConnectorError(
    `${run.mapping.source.label}: re-read after a lost connection, the first ${written} rows were not the ones already exported ` +
      '(the source returns rows in no stable order); stopped rather than write duplicates',
  );
}

/**
 * Rows a batch is mapped, validated and written in, pass by pass: small enough that what a pass makes is
 * still in V8's young generation when the next pass reads it (a whole 500-row batch of resources was promoted
 * to the old generation, which made an export without validation ~10 % slower), large enough to keep each
 * stage's code hot.
 */
const PASS_ROWS = 64;

interface BatchWriter {
  /** a batch's child rows (undefined for a mapping without children) */
  children(rows: Row[]): Promise<ChildRows[] | undefined>;
  /** maps and writes a batch with its child rows */
  rows(rows: Row[], children: ChildRows[] | undefined): Promise<void>;
  /**
   * whether the next batch's child queries may run while a batch is mapped: for a database server, which
   * answers them on its own cores (Synthea's eob on PostgreSQL: its thread was otherwise idle a third of the
   * time, waiting). A source read in this process would only take the same thread's time, and its
   * unreadable lines are reported in order.
   */
  ahead: boolean;
}

/** Maps and writes one batch of rows at a time; remembers what a deduplicating run has written. */
function batchWriter(run: MappingRun, ctx: MappingRunContext): BatchWriter {
  const { mapping } = run;
  const { sink, tally, subset, signal, validate } = ctx;
  const seen = run.dedupe ? new Set<string>() : undefined;
  const firstTime = (ref: string): boolean => {
    if (!seen) return true;
    if (seen.has(ref)) return false;
    seen.add(ref);
    return true;
  };

  /**
   * Rows from..to of a batch in three passes (map every row, validate what it made, write it) rather than
   * all three per row: each stage's code and data stay in the CPU's caches for a few dozen resources, which
   * made validation inside an export markedly cheaper. Output and its order are those of one row at a time.
   */
  const passes = async (rows: Row[], children: ChildRows[] | undefined, from: number, to: number): Promise<void> => {
    const results: MapResult[] = new Array(to - from);
    for (let i = from; i < to; i++) {
      signal.throwIfAborted();
      results[i - from] = mapRow(mapping, rows[i]!, children?.[i]);
    }
    // per row, the resources it exports (first time seen, of an emitted type), each with its validation issues
    const kept: Array<Array<{ resource: FhirResource; issues: ValidationIssue[] | undefined }>> = new Array(to - from);
    for (let i = from; i < to; i++) {
      const mine: (typeof kept)[number] = [];
      for (const resource of results[i - from]!.resources) {
        if (!run.emit.has(resource.resourceType)) continue;
        if (!firstTime(`${resource.resourceType}/${resource.id}`)) continue;
        // the whole resource is validated: `_elements` subsets are SUBSETTED and would miss required elements
        mine.push({ resource, issues: validate?.(resource, mapping.name) });
      }
      kept[i - from] = mine;
    }
    for (let i = from; i < to; i++) {
      signal.throwIfAborted();
      let exported = false;
      let rejected = false;
      for (const { resource, issues } of kept[i - from]!) {
        if (issues?.some((issue) => issue.severity === 'error')) {
          await sink.writeError(validationOutcome(mapping, rows[i]!, resource, issues));
          tally.resourceRejected(
            issues.filter((issue) => issue.severity === 'error').map((issue) => validationReason(mapping, resource, issue)),
          );
          continue;
        }
        await sink.write(subset ? subset(resource) : resource);
        tally.resourceWritten(resource.resourceType);
        exported = true;
      }
      for (const issue of results[i - from]!.issues) {
        if (issue.resourceType ? !run.emit.has(issue.resourceType) : !run.writesRowIssues) continue;
        if (!firstTime(`issue ${JSON.stringify([issue.key, issue.code, issue.column, issue.message])}`)) continue;
        await sink.writeError(issueOutcome(issue));
        tally.issueWritten(issue);
        if (issue.severity === 'error' || issue.severity === 'fatal') rejected = true;
      }
      tally.rowDone(mapping.name, exported, rejected);
    }
  };

  return {
    children: async (rows) =>
      mapping.children.length > 0
        ? fetchChildRows(ctx.adapter, mapping.children, rows, {
            signal,
            batchSize: ctx.batchSize,
            ...(ctx.sourceIssues ? { onBadRow: ctx.sourceIssues.note } : {}),
          })
        : undefined,
    async rows(rows, children) {
      for (let from = 0; from < rows.length; from += PASS_ROWS) await passes(rows, children, from, Math.min(rows.length, from + PASS_ROWS));
      tally.batchDone(mapping.name, rows.length);
    },
    ahead: mapping.children.length > 0 && answersAlongside(ctx.adapter),
  };
}

/** `map` is meant never to throw; if it does (a bug), the row is reported instead of failing the export. */
function mapRow(mapping: CompiledMapping, row: Row, children: ChildRows | undefined): MapResult {
  try {
    return mapping.map(row, children);
  } catch (err) {
    const key = mapping.keyOf(row);
    return {
      resources: [],
      issues: [
        {
          severity: 'error',
          code: 'processing',
          message: `mapping failed on this row: ${err instanceof Error ? err.message : String(err)}`,
          mapping: mapping.name,
          location: mapping.location,
          table: mapping.source.label,
          key,
        },
      ],
    };
  }
}
