// Lines a file source could not read as rows (a CSV line with the wrong number of fields, broken quoting,
// bytes not in the file's encoding): each becomes one line of the export's error file and counts in the
// summary like a row issue. The adapter tells of such a line every time the file is read (two mappings over
// one table, a retried query, a scratch copy read by every mapping), so this log writes each one once.
import type { OperationOutcome } from 'fhir/r4';
import type { SourceRowIssue } from '../connectors/types.js';
import type { ResourceSink } from '../sinks/types.js';
import type { ExportTally } from './export-tally.js';

/** What a mapping run tells of the lines its source could not read (run-mapping.ts). */
export interface SourceIssueListener {
  /** handed to adapters as StreamOptions.onBadRow: called synchronously from the row stream */
  readonly note: (issue: SourceRowIssue) => void;
  /** called between batches: where the issues noted so far get written */
  flush(): Promise<void>;
}

/** One key per bad line (and column), however often the file is read. */
export function sourceIssueKey(issue: SourceRowIssue): string {
  return JSON.stringify([issue.connector, issue.file, issue.line, issue.column ?? null]);
}

/** Writes each bad line once into an export's sink (a whole export run on one thread, run-export.ts). */
export class SourceIssueLog implements SourceIssueListener {
  private readonly seen = new Set<string>();
  private pending: SourceRowIssue[] = [];

  constructor(
    private readonly sink: ResourceSink,
    private readonly tally: ExportTally,
  ) {}

  /** The listener handed to adapters (StreamOptions.onBadRow): called synchronously from the row stream. */
  readonly note = (issue: SourceRowIssue): void => {
    const key = sourceIssueKey(issue);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.pending.push(issue);
  };

  /** Writes the issues noted since the last flush. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const issues = this.pending;
    this.pending = [];
    for (const issue of issues) {
      await this.sink.writeError(sourceIssueOutcome(issue));
      this.tally.sourceIssueWritten(issue);
    }
  }
}

/**
 * Keeps a part's bad lines (each once) for its coordinator: parts read the same files (two mappings over one
 * table, each worker's own scratch copy), so only the coordinator can write each line once per export.
 */
export class SourceIssueCollector implements SourceIssueListener {
  private readonly byKey = new Map<string, SourceRowIssue>();

  readonly note = (issue: SourceRowIssue): void => {
    const key = sourceIssueKey(issue);
    if (!this.byKey.has(key)) this.byKey.set(key, issue);
  };

  async flush(): Promise<void> {}

  get issues(): SourceRowIssue[] {
    return [...this.byKey.values()];
  }
}

export function sourceIssueOutcome(issue: SourceRowIssue): OperationOutcome {
  const what = issue.severity === 'error' ? 'line skipped' : 'row exported as read';
  const parts = [`connector ${issue.connector}`, `table ${issue.table}`, ...(issue.column ? [`column ${issue.column}`] : []), what];
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: issue.severity,
        code: issue.severity === 'error' ? 'structure' : 'value',
        diagnostics: `${issue.file}:${issue.line}: ${issue.message} (${parts.join(', ')})`,
      },
    ],
  };
}
