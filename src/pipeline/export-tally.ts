// What an export has done so far: resources per type, rows per mapping, rejected rows by severity and reason,
// and how many mappings are finished. Every mapping run reports into one tally, which feeds both the
// progress callback and the summary, so the two can never disagree.
import type { CompiledMapping, RowIssue } from '../mapping/types.js';
import type { SourceRowIssue } from '../connectors/types.js';
import { blankValues, issueReason } from './issue-outcome.js';
import type { ExportPlan } from './plan.js';
import type { ExportProgress, ExportSummary } from './types.js';

export class ExportTally {
  readonly counts: Record<string, number> = {};
  readonly rowsRead: Record<string, number> = {};
  readonly rejected: ExportSummary['rejected'] = { total: 0, bySeverity: {}, byReason: {} };
  /** per mapping: rows that gave at least one resource written, rows with an error or fatal issue written */
  readonly rowOutcomes: Record<string, { exported: number; rejected: number }> = {};
  private readonly runsLeft = new Map<string, number>();
  private mappingsDone = 0;
  private totalRows = 0;
  private totalResources = 0;

  constructor(
    private readonly plan: ExportPlan,
    private readonly onProgress?: (progress: ExportProgress) => void,
  ) {
    for (const m of plan.mappings) {
      this.rowsRead[m.name] = 0;
      this.rowOutcomes[m.name] = { exported: 0, rejected: 0 };
    }
    for (const run of plan.runs) this.runsLeft.set(run.mapping.name, (this.runsLeft.get(run.mapping.name) ?? 0) + 1);
  }

  resourceWritten(resourceType: string): void {
    this.counts[resourceType] = (this.counts[resourceType] ?? 0) + 1;
    this.totalResources++;
  }

  issueWritten(issue: RowIssue): void {
    this.rejected.total++;
    this.rejected.bySeverity[issue.severity] = (this.rejected.bySeverity[issue.severity] ?? 0) + 1;
    const reason = issueReason(issue);
    this.rejected.byReason[reason] = (this.rejected.byReason[reason] ?? 0) + 1;
  }

  /** A source line that was not read as a row (or was, damaged): counted under its connector and table. */
  sourceIssueWritten(issue: SourceRowIssue): void {
    this.rejected.total++;
    this.rejected.bySeverity[issue.severity] = (this.rejected.bySeverity[issue.severity] ?? 0) + 1;
    const reason = sourceIssueReason(issue);
    this.rejected.byReason[reason] = (this.rejected.byReason[reason] ?? 0) + 1;
  }

  /** One source row mapped: whether it gave a resource that was written, whether an error dropped one. */
  rowDone(mapping: string, exported: boolean, rejected: boolean): void {
    this.rowOutcomes[mapping] ??= { exported: 0, rejected: 0 };
    const o = this.rowOutcomes[mapping];
    if (exported) o.exported++;
    if (rejected) o.rejected++;
  }

  /**
   * Rows read / exported / rejected per source table (summary.json `sources`): each mapping's rows count
   * for the table they come from (its `table:`, or its SQL's outer FROM), so a table several mappings read
   * counts its rows once per mapping, as each mapping reads them.
   */
  sources(tableOf: (mapping: CompiledMapping) => string): ExportSummary['sources'] {
    const out: NonNullable<ExportSummary['sources']> = {};
    for (const m of this.plan.mappings) {
      const table = tableOf(m);
      const counts = { read: this.rowsRead[m.name] ?? 0, ...(this.rowOutcomes[m.name] ?? { exported: 0, rejected: 0 }) };
      out[table] ??= { read: 0, exported: 0, rejected: 0, mappings: {} };
      const entry = out[table];
      entry.read += counts.read;
      entry.exported += counts.exported;
      entry.rejected += counts.rejected;
      entry.mappings[m.name] = counts;
    }
    return out;
  }

  /** A resource dropped because it failed validation: one line of the error file, counted under each of
   *  its (distinct) reasons. */
  resourceRejected(reasons: Iterable<string>): void {
    this.rejected.total++;
    this.rejected.bySeverity.error = (this.rejected.bySeverity.error ?? 0) + 1;
    for (const reason of new Set(reasons)) this.rejected.byReason[reason] = (this.rejected.byReason[reason] ?? 0) + 1;
  }

  batchDone(mapping: string, rows: number): void {
    this.rowsRead[mapping] = (this.rowsRead[mapping] ?? 0) + rows;
    this.totalRows += rows;
    this.progress(mapping);
  }

  /** A mapping with several runs (one per `_typeFilter` alternative) is done when its last run is. */
  runDone(mapping: string): void {
    const left = this.runsLeft.get(mapping)! - 1;
    this.runsLeft.set(mapping, left);
    if (left === 0) {
      this.mappingsDone++;
      this.progress(mapping);
    }
  }

  private progress(mapping: string): void {
    this.onProgress?.({
      mapping,
      mappingsDone: this.mappingsDone,
      mappingsTotal: this.plan.mappings.length,
      rowsRead: this.totalRows,
      resourcesWritten: this.totalResources,
    });
  }
}

/** The summary's reason for a bad source line: its connector and table, without the line's own values. */
export function sourceIssueReason(issue: SourceRowIssue): string {
  return `connector ${issue.connector}: table ${issue.table}: ${blankValues(issue.message)}`;
}
