// One mapping run, the unit of work of an export: stream the run's queries in batches, fetch each batch's
// child rows with one IN query per child, map every row, and write the resources the run emits and the row
// issues it owns to the sink. It needs nothing but an adapter, a sink and a tally, so it can run wherever
// those are (the CLI, a job, a worker).
import type { Row, SourceAdapter } from '../connectors/types.js';
import type { CompiledMapping, MapResult } from '../mapping/types.js';
import type { ResourceSink } from '../sinks/types.js';
import { fetchChildRows, type ChildRows } from './child-rows.js';
import type { ElementSubsetter } from './elements.js';
import type { ExportTally } from './export-tally.js';
import { issueOutcome } from './issue-outcome.js';
import type { MappingRun } from './plan.js';

export interface MappingRunContext {
  adapter: SourceAdapter;
  sink: ResourceSink;
  batchSize: number;
  signal: AbortSignal;
  tally: ExportTally;
  /** `_elements`: applied to each resource before it is written */
  subset?: ElementSubsetter;
}

export async function runMapping(run: MappingRun, ctx: MappingRunContext): Promise<void> {
  const { signal, batchSize } = ctx;
  const write = batchWriter(run, ctx);
  for (const query of run.queries) {
    let batch: Row[] = [];
    for await (const row of ctx.adapter.stream(query, { signal, batchSize })) {
      signal.throwIfAborted();
      batch.push(row);
      if (batch.length >= batchSize) {
        await write(batch);
        batch = [];
      }
    }
    signal.throwIfAborted();
    if (batch.length > 0) await write(batch);
  }
  ctx.tally.runDone(run.mapping.name);
}

/** Maps and writes one batch of rows at a time; remembers what a deduplicating run has written. */
function batchWriter(run: MappingRun, ctx: MappingRunContext): (rows: Row[]) => Promise<void> {
  const { mapping } = run;
  const { sink, tally, subset, signal } = ctx;
  const seen = run.dedupe ? new Set<string>() : undefined;
  const firstTime = (ref: string): boolean => {
    if (!seen) return true;
    if (seen.has(ref)) return false;
    seen.add(ref);
    return true;
  };

  return async (rows) => {
    const children =
      mapping.children.length > 0
        ? await fetchChildRows(ctx.adapter, mapping.children, rows, { signal, batchSize: ctx.batchSize })
        : undefined;
    for (let i = 0; i < rows.length; i++) {
      signal.throwIfAborted();
      const result = mapRow(mapping, rows[i]!, children?.[i]);
      for (const resource of result.resources) {
        if (!run.emit.has(resource.resourceType)) continue;
        if (!firstTime(`${resource.resourceType}/${resource.id}`)) continue;
        await sink.write(subset ? subset(resource) : resource);
        tally.resourceWritten(resource.resourceType);
      }
      for (const issue of result.issues) {
        if (issue.resourceType ? !run.emit.has(issue.resourceType) : !run.writesRowIssues) continue;
        if (!firstTime(`issue ${JSON.stringify([issue.key, issue.code, issue.column, issue.message])}`)) continue;
        await sink.writeError(issueOutcome(issue));
        tally.issueWritten(issue);
      }
    }
    tally.batchDone(mapping.name, rows.length);
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
