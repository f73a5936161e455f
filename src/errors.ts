// Typed errors shared by every stage. Each one can describe itself as a FHIR OperationOutcome, which is
// what the HTTP edge answers with and what the export writes for rows it could not map.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

/** A place in a mapping or connector file, 1-based like editors show it. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  /** for a place inside a fragment (`$include`): the `$include` that pulled it in, itself maybe in a fragment */
  includedFrom?: SourceLocation;
}

export function formatLocation(loc: SourceLocation | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.column}` : '';
}

/** " (included from a.yaml:3:5, from b.yaml:9:3)" for a place inside a fragment, else "". */
export function formatIncludedFrom(loc: SourceLocation | undefined): string {
  const chain: string[] = [];
  for (let l = loc?.includedFrom; l; l = l.includedFrom) chain.push(formatLocation(l));
  return chain.length > 0 ? ` (included from ${chain.join(', from ')})` : '';
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

/** A mapping file (or a fragment it includes) is malformed or refers to something that does not exist.
 *  The message is `file:line:col: detail`, plus where a fragment was included from. */
export class MappingError extends FhirBridgeError {
  readonly location?: SourceLocation;
  /** The bare message, without the location prefix */
  readonly detail: string;
  constructor(detail: string, location?: SourceLocation, options: { cause?: unknown } = {}) {
    super(location ? `${formatLocation(location)}: ${detail}${formatIncludedFrom(location)}` : detail, {
      issueCode: 'invalid',
      status: 400,
      ...options,
    });
    this.location = location;
    this.detail = detail;
  }
}

/** A connector file (connectors/*.yaml, or a fragment it includes) is malformed; same message format as
 *  MappingError, a class of its own so callers can tell "fix the connector" from "fix the mapping". */
export class ConfigError extends MappingError {}

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
  /** the same work may well succeed if tried again (connection lost, deadlock...): the pipeline retries it */
  readonly transient: boolean;
  constructor(message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, { issueCode: 'transient', status: 503, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.transient = options.transient ?? false;
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
