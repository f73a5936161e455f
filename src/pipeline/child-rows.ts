// Child rows for a batch of parent rows: one query per child declaration and batch (an IN list on the first
// join column), never one per parent row. Further join columns are matched here, in memory.
import { dialect } from '../connectors/registry.js';
import type { Row, SourceAdapter, StreamOptions } from '../connectors/types.js';
import type { CompiledChild } from '../mapping/types.js';
import { chunk, distinct, keyPart, MAX_IN_LIST } from './plan.js';

export type ChildRows = Record<string, Row[]>;

/**
 * Whether the source answers queries on cores of its own while this thread maps (a database server), so that
 * child queries may run together and ahead of the mapping; a source read in this process (SQLite, files,
 * DuckDB, exportConcurrency 1) would only take this thread's time.
 */
export function answersAlongside(adapter: Pick<SourceAdapter, 'dialect'>): boolean {
  return dialect(adapter.dialect).exportConcurrency > 1;
}

/**
 * For each parent (same order), its child rows by child name, in the child's orderBy order. A database server
 * answers the children's queries at the same time, each on a connection of its own: the mapping waits for the
 * slowest instead of their sum (Synthea's eob, three children: its thread idle a third of the time one after
 * another). Sources read in this process (SQLite, files, DuckDB) would only share its CPU: one at a time.
 */
export async function fetchChildRows(
  adapter: SourceAdapter,
  children: CompiledChild[],
  parents: Row[],
  options: Pick<StreamOptions, 'signal' | 'batchSize' | 'onBadRow'> = {},
): Promise<ChildRows[]> {
  const result: ChildRows[] = parents.map(() => ({}));
  const fill = async (child: CompiledChild): Promise<void> => {
    if (child.on.length === 0) throw new Error(`child ${child.name} has no join columns`);
    const parentCols = child.on.map((o) => o.parent);
    const childCols = child.on.map((o) => o.child);
    const groups = new Map<string, Row[]>();
    const firstValues = distinct(parents.map((p) => p[child.on[0]!.parent]));
    for (const values of chunk(firstValues, MAX_IN_LIST)) {
      const query = {
        ...child.query,
        where: [...(child.query.where ?? []), { column: child.on[0]!.child, op: 'in' as const, value: values }],
        orderBy: child.orderBy.length > 0 ? child.orderBy : child.query.orderBy,
      };
      for await (const row of adapter.stream(query, options)) {
        const key = joinKey(row, childCols);
        if (key === undefined) continue;
        const group = groups.get(key);
        if (group) group.push(row);
        else groups.set(key, [row]);
      }
    }
    parents.forEach((parent, i) => {
      const key = joinKey(parent, parentCols);
      result[i]![child.name] = (key !== undefined && groups.get(key)) || [];
    });
  };
  if (children.length < 2 || !answersAlongside(adapter)) {
    for (const child of children) await fill(child);
    return result;
  }
  // every query ends before the batch fails: none is left reading for a batch that is read again
  const settled = await Promise.allSettled(children.map(fill));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return result;
}

function joinKey(row: Row, columns: string[]): string | undefined {
  const parts: string[] = [];
  for (const column of columns) {
    const part = keyPart(row[column]);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  return JSON.stringify(parts);
}
