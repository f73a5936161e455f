// In-memory stand-ins for a source, a compiled mapping and a sink, for the pipeline's unit tests (and the
// CLI's). They implement the contracts literally, nothing more.
import type { OperationOutcome } from 'fhir/r4';
import type { Filter, Row, SourceAdapter, SourceQuery, StreamOptions } from '../../src/connectors/types.js';
import type { CompiledChild, CompiledMapping, CompiledMappingSet, FhirResource, MapResult } from '../../src/mapping/types.js';
import type { ResourceSink, SinkResult } from '../../src/sinks/types.js';

export class FakeAdapter implements SourceAdapter {
  readonly dialect = 'sqlite' as const;
  readonly name = 'fake';
  readonly queries: SourceQuery[] = [];
  /** called before each row is yielded (tests use it to abort mid-stream) */
  onRow?: (row: Row) => void;
  failOn?: string;
  constructor(readonly tables: Record<string, Row[]>) {}

  async *stream(query: SourceQuery, options: StreamOptions = {}): AsyncIterable<Row> {
    this.queries.push(query);
    if (query.table === this.failOn) throw new Error(`table ${query.table} is gone`);
    let rows = (this.tables[query.table ?? ''] ?? []).filter((r) => (query.where ?? []).every((f) => matches(r, f)));
    if (query.orderBy?.length) {
      const cols = query.orderBy;
      rows = [...rows].sort((a, b) => {
        for (const c of cols) {
          const x = String(a[c]);
          const y = String(b[c]);
          if (x !== y) return x < y ? -1 : 1;
        }
        return 0;
      });
    }
    for (const row of rows) {
      options.signal?.throwIfAborted();
      await Promise.resolve();
      this.onRow?.(row);
      yield row;
    }
  }
  async columns(query: Pick<SourceQuery, 'table' | 'sql'>): Promise<string[]> {
    return Object.keys(this.tables[query.table ?? '']?.[0] ?? {});
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

function matches(row: Row, f: Filter): boolean {
  const v = row[f.column];
  switch (f.op) {
    case '=':
      return v === f.value;
    case '!=':
      return v !== f.value;
    case 'in':
      return (f.value as unknown[]).some((x) => String(x) === String(v));
    case 'not in':
      return !(f.value as unknown[]).some((x) => String(x) === String(v));
    case '>':
      return f.value instanceof Date ? new Date(String(v)) > f.value : String(v) > String(f.value);
    case '<':
      return String(v) < String(f.value);
    case '>=':
      return String(v) >= String(f.value);
    case '<=':
      return String(v) <= String(f.value);
    case 'is null':
      return v === null || v === undefined;
    case 'is not null':
      return v !== null && v !== undefined;
    case 'in query':
      throw new Error('FakeAdapter: subquery filters need a SQL database');
  }
}

export function fakeMapping(options: {
  name: string;
  table: string;
  key?: string[];
  patient?: string;
  lastUpdated?: string;
  resourceTypes: string[];
  children?: CompiledChild[];
  map: (row: Row, children?: Record<string, Row[]>) => MapResult;
}): CompiledMapping {
  const location = { file: `/maps/${options.name}.yaml`, line: 1, column: 1 };
  return {
    name: options.name,
    file: location.file,
    location,
    source: {
      query: { table: options.table },
      label: options.table,
      key: options.key ?? ['id'],
      ...(options.patient ? { patient: options.patient } : {}),
      ...(options.lastUpdated ? { lastUpdated: options.lastUpdated } : {}),
    },
    children: options.children ?? [],
    resources: options.resourceTypes.map((resourceType) => ({ resourceType, profiles: [], location })),
    search: {},
    resourceTypes: options.resourceTypes,
    map: options.map,
    keyOf: (row) => Object.fromEntries((options.key ?? ['id']).map((c) => [c, row[c] ?? null])),
    idFor: (_type, key) => key.map(String).join('-'),
  };
}

export function mappingSet(...mappings: CompiledMapping[]): CompiledMappingSet {
  return {
    mappings,
    byName: new Map(mappings.map((m) => [m.name, m])),
    resourceTypes: [...new Set(mappings.flatMap((m) => m.resourceTypes))],
  };
}

export class MemorySink implements ResourceSink {
  readonly resources: FhirResource[] = [];
  readonly errors: OperationOutcome[] = [];
  closed = false;
  aborted = false;
  async write(resource: FhirResource): Promise<void> {
    this.resources.push(resource);
  }
  async writeError(outcome: OperationOutcome): Promise<void> {
    this.errors.push(outcome);
  }
  async close(): Promise<SinkResult> {
    this.closed = true;
    return { output: [], error: [] };
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}
