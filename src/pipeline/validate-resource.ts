// Profile validation at export time: each resource a mapping makes is checked against its meta.profile
// before it is written. A resource with an error is not exported; it becomes one OperationOutcome in the
// error file that says where to fix it (the mapping's resource template, file:line:col), which profile rule
// and element failed, and which source row it came from. Warnings and must-support coverage are counted
// per mapping and profile for summary.json. One ExportValidation per export: the validator itself (slow to
// build, read-only afterwards) is shared by every export of the process, see sharedValidator().
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';
import type { Row } from '../connectors/types.js';
import { formatLocation, type SourceLocation } from '../errors.js';
import type { CompiledMapping, FhirResource } from '../mapping/types.js';
import { createValidator, MustSupportCoverage, type ProfileValidator, type ValidationIssue } from '../validation/index.js';

/** What a mapping run asks of validation: the issues of one resource it made. */
export type ResourceCheck = (resource: FhirResource, mapping: string) => ValidationIssue[];

/** summary.json's `validation`: counts per mapping and profile, and must-support coverage. */
export interface ValidationSummary {
  /** resources validated (exported or rejected) */
  resources: number;
  /** resources not exported because of a validation error (each is one line of the error file) */
  rejected: number;
  /** mapping → profile → error issues (of rejected resources) */
  errors: Record<string, Record<string, number>>;
  /** mapping → profile → warning issues (the resource is still exported) */
  warnings: Record<string, Record<string, number>>;
  /** mapping → profile → resources validated and, per must-support element id, how many populate it */
  mustSupport: Record<string, Record<string, MustSupportTally>>;
}

export interface MustSupportTally {
  resources: number;
  elements: Record<string, number>;
}

/** One export's validation: checks resources and keeps the counts that summary.json reports. */
export class ExportValidation {
  private readonly coverage = new Map<string, MustSupportCoverage>();
  private readonly counts: ValidationSummary = { resources: 0, rejected: 0, errors: {}, warnings: {}, mustSupport: {} };

  constructor(private readonly validator: ProfileValidator) {}

  readonly check: ResourceCheck = (resource, mapping) => {
    let coverage = this.coverage.get(mapping);
    if (!coverage) {
      coverage = new MustSupportCoverage();
      this.coverage.set(mapping, coverage);
    }
    const issues = this.validator.validate(resource, undefined, coverage);
    this.counts.resources++;
    let rejected = false;
    for (const issue of issues) {
      if (issue.severity === 'error') rejected = true;
      const by = issue.severity === 'error' ? this.counts.errors : issue.severity === 'warning' ? this.counts.warnings : undefined;
      if (!by) continue;
      const perProfile = entry(by, mapping, () => ({}));
      perProfile[issue.profile] = (perProfile[issue.profile] ?? 0) + 1;
    }
    if (rejected) this.counts.rejected++;
    return issues;
  };

  summary(): ValidationSummary {
    const mustSupport: ValidationSummary['mustSupport'] = {};
    for (const [mapping, coverage] of [...this.coverage].sort(([a], [b]) => a.localeCompare(b))) {
      const profiles: Record<string, MustSupportTally> = {};
      for (const row of coverage.rows()) {
        const t = entry(profiles, row.profile, () => ({ resources: row.total, elements: {} }));
        t.elements[row.element] = row.populated;
      }
      // a profile with no must-support element still says how many resources were checked against it
      for (const [profile, total] of coverage.totals()) profiles[profile] ??= { resources: total, elements: {} };
      mustSupport[mapping] = profiles;
    }
    return { ...this.counts, mustSupport };
  }
}

/** Adds one export's validation summary into another (exports split across workers each keep their own). */
export function mergeValidationSummaries(into: ValidationSummary, from: ValidationSummary): ValidationSummary {
  into.resources += from.resources;
  into.rejected += from.rejected;
  for (const key of ['errors', 'warnings'] as const) {
    for (const [mapping, profiles] of Object.entries(from[key])) {
      const target = entry(into[key], mapping, () => ({}));
      for (const [profile, n] of Object.entries(profiles)) target[profile] = (target[profile] ?? 0) + n;
    }
  }
  for (const [mapping, profiles] of Object.entries(from.mustSupport)) {
    const target = entry(into.mustSupport, mapping, () => ({}));
    for (const [profile, tally] of Object.entries(profiles)) {
      const t = entry(target, profile, () => ({ resources: 0, elements: {} }));
      t.resources += tally.resources;
      for (const [element, n] of Object.entries(tally.elements)) t.elements[element] = (t.elements[element] ?? 0) + n;
    }
  }
  return into;
}

function entry<T>(record: Record<string, T>, key: string, make: () => NoInfer<T>): T {
  let value = record[key];
  if (value === undefined) {
    value = make();
    record[key] = value;
  }
  return value;
}

let shared: Promise<ProfileValidator> | undefined;

/**
 * The process's validator (one per worker thread too): loading the packages and R4 definitions takes
 * seconds, so it is built once, on first use (or at server start-up), and reused by every export.
 */
export function sharedValidator(): Promise<ProfileValidator> {
  shared ??= createValidator().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

/**
 * The error-file line for a resource that failed validation: one issue per validation error (warnings of
 * the same resource ride along, so the whole picture is in one place), each saying where the resource's
 * template is, the profile and element, and the row.
 */
export function validationOutcome(mapping: CompiledMapping, row: Row, resource: FhirResource, issues: ValidationIssue[]): OperationOutcome {
  const where = formatLocation(templateLocation(mapping, resource));
  const rowText = `${mapping.source.label} key ${JSON.stringify(mapping.keyOf(row))}`;
  const out: OperationOutcomeIssue[] = issues
    .filter((i) => i.severity !== 'information')
    .map((i) => ({
      severity: i.severity,
      code: i.code,
      diagnostics:
        `${where ? `${where}: ` : ''}${i.message} (mapping ${mapping.name}, ${rowText}, profile ${i.profile}` +
        `${i.element ? `, element ${i.element}` : ''}${i.key ? `, constraint ${i.key}` : ''}, ` +
        `${resource.resourceType}/${resource.id} ${i.severity === 'error' ? 'dropped' : 'kept'})`,
      ...(i.expression ? { expression: [i.expression] } : {}),
    }));
  return { resourceType: 'OperationOutcome', issue: out };
}

/**
 * The summary's reason for a validation error, without what varies row by row (indexes, codes, values), so
 * one broken template is one reason however many rows it fails on.
 */
export function validationReason(mapping: CompiledMapping, resource: FhirResource, issue: ValidationIssue): string {
  const where = formatLocation(templateLocation(mapping, resource));
  const profile = issue.profile.split('/').pop() ?? issue.profile;
  const message = issue.message
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\([^()]*#[^()]*\)/g, '(…)')
    .replace(/\S+#\S+/g, '…')
    .replace(/\b\d[\d.:T+-]*\b/g, '#');
  const expression = issue.expression.replace(/\[\d+\]/g, '');
  return `${mapping.name}: ${where ? `${where} ` : ''}${issue.code} ${profile} ${expression}: ${message}`;
}

/** The resource template (file:line:col) a resource came from: same type and, when several, same profile; else the mapping. */
function templateLocation(mapping: CompiledMapping, resource: FhirResource): SourceLocation {
  const candidates = mapping.resources.filter((r) => r.resourceType === resource.resourceType);
  if (candidates.length <= 1) return candidates[0]?.location ?? mapping.location;
  const declared = (resource.meta?.profile ?? []).map((p) => p.split('|')[0]);
  const same = candidates.filter((r) => r.profiles.some((p) => declared.includes(p.split('|')[0])));
  // several templates of this type and no profile telling them apart: name the mapping, not a guess
  return same.length === 1 ? same[0]!.location : mapping.location;
}
