// The validator boundary: what callers (validate-output, the export pipeline, the server) see. Issues are
// OperationOutcome issues with a FHIRPath location, plus the profile and element they come from.

/** OperationOutcome.issue.code values the validator uses:
 * - `required`: an element or slice below its minimum cardinality
 * - `structure`: too many values, an element the definition does not have, a JSON value of the wrong shape
 *   (object for a primitive, array for a single value), a value in no slice of a closed slicing, a
 *   reference to a resource type the profile does not allow
 * - `value`: a primitive that does not match its type (`active: "Ann"`, `2024-13-01`), a fixed or pattern
 *   value contradicted
 * - `code-invalid`: a code outside a required binding's value set (a warning for extensible/preferred)
 * - `invariant`: a FHIRPath constraint of the profile that evaluates to false
 * - `not-supported`: the profile is unknown (a warning: the resource is checked against its base type)
 */
export type IssueCode = 'required' | 'structure' | 'value' | 'code-invalid' | 'invariant' | 'not-supported';

export type IssueSeverity = 'error' | 'warning' | 'information';

export interface ValidationIssue {
  severity: IssueSeverity;
  code: IssueCode;
  /** FHIRPath of the offending value, e.g. `Patient.identifier[0].system`, `Observation.value.ofType(Quantity)` */
  expression: string;
  message: string;
  /** canonical URL of the profile whose rule this is (the profile asked for, or the base resource type) */
  profile: string;
  /** ElementDefinition id of the rule, e.g. `Observation.category:us-core`, when there is one */
  element?: string;
  /** the constraint key for `invariant` issues, e.g. `us-core-6` */
  key?: string;
}

export interface Validator {
  /**
   * Issues of `resource` against `profileUrl` (a canonical URL, `|version` allowed), or, without one, against
   * every profile in its `meta.profile` that is known, else its base resource type. Never throws for bad
   * input: a resource that is not an object with a known resourceType is one `structure` error.
   */
  validate(resource: unknown, profileUrl?: string): ValidationIssue[];
}
