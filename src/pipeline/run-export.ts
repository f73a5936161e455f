// Runs an export: for each mapping, stream its rows from the source in batches, fetch the batch's child rows,
// map, and write resources and row issues to the sink. The sink belongs to the run from here on: it is
// closed when everything went well (its files are in the summary) and aborted (files removed) otherwise.
import PQueue from 'p-queue';
import { dialect } from '../connectors/registry.js';
import type { Row } from '../connectors/types.js';
import type { CompiledMapping, MapResult, RowIssue } from '../mapping/types.js';
import { fetchChildRows, type ChildRows } from './child-rows.js';
import { elementSubsetter, type ElementSubsetter } from './elements.js';
import { issueOutcome, issueReason } from './issue-outcome.js';
import { planExport, type MappingRun } from './plan.js';
import type { ExportRequest, ExportSummary } from './types.js';

export const DEFAULT_BATCH_SIZE = 500;

export async function runExport(req: ExportRequest): Promise<ExportSummary> {
  const started = performance.now();
  const batchSize = req.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${String(batchSize)}`);
  const plan = planExport(req);
  const subset = req.elements && req.elements.length > 0 ? elementSubsetter(req.elements) : undefined;

  // One controller for the whole run: the caller's signal, or the first failing mapping, stops every mapping.
  const stop = new AbortController();
  const onCallerAbort = (): void => stop.abort(req.signal!.reason);
  if (req.signal?.aborted) stop.abort(req.signal.reason);
  else req.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const counts: Record<string, number> = {};
  const rowsRead: Record<string, number> = {};
  const rejected: ExportSummary['rejected'] = { total: 0, bySeverity: {}, byReason: {} };
  for (const m of plan.mappings) rowsRead[m.name] = 0;
  const runsLeft = new Map<string, number>();
  for (const run of plan.runs) runsLeft.set(run.mapping.name, (runsLeft.get(run.mapping.name) ?? 0) + 1);
  let mappingsDone = 0;
  let totalRows = 0;
  let totalResources = 0;

  const progress = (mapping: string): void => {
    req.onProgress?.({ mapping, mappingsDone, mappingsTotal: plan.mappings.length, rowsRead: totalRows, resourcesWritten: totalResources });
  };

  const writeIssue = async (issue: RowIssue): Promise<void> => {
    await req.sink.writeError(issueOutcome(issue));
    rejected.total++;
    rejected.bySeverity[issue.severity] = (rejected.bySeverity[issue.severity] ?? 0) + 1;
    const reason = issueReason(issue);
    rejected.byReason[reason] = (rejected.byReason[reason] ?? 0) + 1;
  };

  const execute = async (run: MappingRun): Promise<void> => {
    const { mapping } = run;
    const seen = run.dedupe ? new Set<string>() : undefined;
    const signal = stop.signal;

    const processBatch = async (rows: Row[]): Promise<void> => {
      const children = mapping.children.length > 0 ? await fetchChildRows(req.adapter, mapping.children, rows, { signal, batchSize }) : undefined;
      for (let i = 0; i < rows.length; i++) {
        signal.throwIfAborted();
        const result = mapRow(mapping, rows[i]!, children?.[i]);
        for (const resource of result.resources) {
          if (!run.emit.has(resource.resourceType)) continue;
          if (seen) {
            const ref = `${resource.resourceType}/${resource.id}`;
            if (seen.has(ref)) continue;
            seen.add(ref);
          }
          await req.sink.write(subset ? subset(resource) : resource);
          counts[resource.resourceType] = (counts[resource.resourceType] ?? 0) + 1;
          totalResources++;
        }
        for (const issue of result.issues) {
          if (issue.resourceType ? !run.emit.has(issue.resourceType) : !run.writesRowIssues) continue;
          if (seen) {
            const ref = `issue ${JSON.stringify([issue.key, issue.code, issue.column, issue.message])}`;
            if (seen.has(ref)) continue;
            seen.add(ref);
          }
          await writeIssue(issue);
        }
      }
      rowsRead[mapping.name] = (rowsRead[mapping.name] ?? 0) + rows.length;
      totalRows += rows.length;
      progress(mapping.name);
    };

    for (const query of run.queries) {
      let batch: Row[] = [];
      for await (const row of req.adapter.stream(query, { signal, batchSize })) {
        signal.throwIfAborted();
        batch.push(row);
        if (batch.length >= batchSize) {
          await processBatch(batch);
          batch = [];
        }
      }
      signal.throwIfAborted();
      if (batch.length > 0) await processBatch(batch);
    }
    const left = runsLeft.get(mapping.name)! - 1;
    runsLeft.set(mapping.name, left);
    if (left === 0) {
      mappingsDone++;
      progress(mapping.name);
    }
  };

  const concurrency = req.concurrency ?? dialect(req.adapter.dialect).exportConcurrency;
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  let failure: unknown;
  const tasks = plan.runs.map((run) =>
    queue.add(async () => {
      if (stop.signal.aborted) return;
      try {
        await execute(run);
      } catch (err) {
        if (failure === undefined) failure = stop.signal.aborted ? stop.signal.reason : err;
        stop.abort(failure);
      }
    }),
  );
  await Promise.all(tasks);
  req.signal?.removeEventListener('abort', onCallerAbort);
  if (failure === undefined && stop.signal.aborted) failure = stop.signal.reason;
  if (failure !== undefined) {
    await req.sink.abort();
    throw failure;
  }

  let files;
  try {
    files = await req.sink.close();
  } catch (err) {
    await req.sink.abort();
    throw err;
  }
  const summary: ExportSummary = {
    counts,
    rowsRead,
    rejected,
    durationMs: Math.round(performance.now() - started),
    files,
  };
  if (plan.notes.length > 0) summary.notes = plan.notes;
  return summary;
}

/** `map` is meant never to throw; if it does (a bug), the row is reported instead of failing the export. */
function mapRow(mapping: CompiledMapping, row: Row, children: ChildRows | undefined): MapResult {
  try {
    return mapping.map(row, children);
  } catch (err) {
    const key: Record<string, unknown> = {};
    for (const k of mapping.source.key) key[k] = row[k.toLowerCase()];
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
