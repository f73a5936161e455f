// Typed errors shared by every stage. Each one can describe itself as a FHIR OperationOutcome, which is
// what the HTTP edge answers with and what the export writes for rows it could not map.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

/** A place in a mapping or connector file, 1-based like editors show it. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export function formatLocation(loc: SourceLocation | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.column}` : '';
}

type IssueType = OperationOutcomeIssue['code'];

export class FhirBridgeError extends Error {
  /** OperationOutcome.issue.code */
  readonly issueCode: IssueType;
  /** HTTP status when this error reaches the HTTP edge */
  readonly status: number;
  constructor(message: string, options: { issueCode?: IssueType; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.issueCode = options.issueCode ?? 'processing';
    this.status = options.status ?? 500;
  }
  toOperationOutcome(): OperationOutcome {
    return operationOutcome('error', this.issueCode, this.message);
  }
}

/** A mapping (or connector) file is malformed or refers to something that does not exist. */
export class MappingError extends FhirBridgeError {
  readonly location?: SourceLocation;
  /** The bare message, without the location prefix */
  readonly detail: string;
  constructor(detail: string, location?: SourceLocation, options: { cause?: unknown } = {}) {
    super(location ? `${formatLocation(location)}: ${detail}` : detail, { issueCode: 'invalid', status: 400, ...options });
    this.location = location;
    this.detail = detail;
  }
}

/** Several mapping errors found in one pass; the CLI prints them all, not just the first. */
export class MappingErrors extends FhirBridgeError {
  readonly errors: MappingError[];
  constructor(errors: MappingError[]) {
    super(errors.map((e) => e.message).join('\n'), { issueCode: 'invalid', status: 400 });
    this.errors = errors;
  }
}

/** A source cannot be reached or answered with an error (dead database, missing file, bad SQL). */
export class ConnectorError extends FhirBridgeError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { issueCode: 'transient', status: 503, ...options });
  }
}

/** A request the HTTP edge rejects (bad parameter, bad token, unknown job...). */
export class HttpError extends FhirBridgeError {
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, issueCode: IssueType = 'invalid', headers: Record<string, string> = {}) {
    super(message, { issueCode, status });
    this.headers = headers;
  }
}

export function operationOutcome(
  severity: OperationOutcomeIssue['severity'],
  code: IssueType,
  diagnostics: string,
  extra: Partial<OperationOutcomeIssue> = {},
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics, ...extra }] };
}
