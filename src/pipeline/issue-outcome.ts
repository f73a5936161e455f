// A RowIssue becomes one line of the export's error file: an OperationOutcome a person can act on (which
// mapping file:line:col, which table and row key, which element), and a reason to count in the summary.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';
import { formatLocation } from '../errors.js';
import type { RowIssue } from '../mapping/types.js';

export function issueOutcome(issue: RowIssue): OperationOutcome {
  const out: OperationOutcomeIssue = {
    severity: issue.severity,
    code: issue.code,
    diagnostics: issueDiagnostics(issue),
  };
  if (issue.expression) out.expression = [issue.expression];
  return { resourceType: 'OperationOutcome', issue: [out] };
}

export function issueDiagnostics(issue: RowIssue): string {
  const where = formatLocation(issue.location);
  const parts = [
    `mapping ${issue.mapping}`,
    `${issue.table} key ${JSON.stringify(issue.key)}`,
    ...(issue.column ? [`column ${issue.column}`] : []),
    ...(issue.resourceType ? [`${issue.resourceType} dropped`] : []),
  ];
  return `${where ? `${where}: ` : ''}${issue.message} (${parts.join(', ')})`;
}

/**
 * What the summary counts an issue under: the mapping, the place in its file and the message with the
 * row-specific values (quoted text, numbers) blanked out, so ten thousand bad dates are one reason.
 */
export function issueReason(issue: RowIssue): string {
  const where = issue.location ? `${formatLocation(issue.location)} ` : '';
  return `${issue.mapping}: ${where}${issue.code}${issue.column ? ` ${issue.column}` : ''}: ${blankValues(issue.message)}`;
}

/** A message with its row-specific values (quoted text, numbers) blanked out. */
export function blankValues(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(/\b\d[\d.:T+-]*\b/g, '#');
}
