// Lines a file source could not read as rows (a CSV line with the wrong number of fields, broken quoting,
// bytes not in the file's encoding): each becomes one line of the export's error file and counts in the
// summary like a row issue. The adapter tells of such a line every time the file is read (two mappings over
// one table, a retried query, a scratch copy read by every mapping), so this log writes each one once.
import type { OperationOutcome } from 'fhir/r4';
import type { SourceRowIssue } from '../connectors/types.js';
import type { ResourceSink } from '../sinks/types.js';
import type { ExportTally } from './export-tally.js';

export class SourceIssueLog {
  private readonly seen = new Set<string>();
  private pending: SourceRowIssue[] = [];

  constructor(
    private readonly sink: ResourceSink,
    private readonly tally: ExportTally,
  ) {}

  /** The listener handed to adapters (StreamOptions.onBadRow): called synchronously from the row stream. */
  readonly note = (issue: SourceRowIssue): void => {
    const key = JSON.stringify([issue.connector, issue.file, issue.line, issue.column ?? null]);
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
