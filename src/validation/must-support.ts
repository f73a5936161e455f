// Must-support coverage: for each profile resources were validated against, each must-support element
// (slices included) and how many of those resources populate it. Filled as a side effect of validation
// (the validator marks the elements it meets), so it costs a Set per resource and no second walk.
import type { Structure } from './compile.js';
import type { ValidationIssue } from './types.js';

export interface CoverageRow {
  profile: string;
  /** ElementDefinition id, e.g. `Patient.extension:race`, `Observation.value[x]` */
  element: string;
  /** resources validated against the profile that populate the element */
  populated: number;
  /** resources validated against the profile */
  total: number;
}

interface ProfileTally {
  structure: Structure;
  total: number;
  counts: Map<string, number>;
}

export class MustSupportCoverage {
  private readonly profiles = new Map<string, ProfileTally>();

  /** Called by the validator once per resource and profile with the element ids it met. */
  record(structure: Structure, seen: ReadonlySet<string>): void {
    let tally = this.profiles.get(structure.url);
    if (!tally) {
      tally = { structure, total: 0, counts: new Map(structure.mustSupport.map((n) => [n.id, 0])) };
      this.profiles.set(structure.url, tally);
    }
    tally.total++;
    for (const id of seen) {
      const c = tally.counts.get(id);
      if (c !== undefined) tally.counts.set(id, c + 1);
    }
  }

  /** One row per must-support element of each profile met, in snapshot order. */
  rows(): CoverageRow[] {
    const out: CoverageRow[] = [];
    for (const [profile, t] of this.profiles) {
      for (const [element, populated] of t.counts) out.push({ profile, element, populated, total: t.total });
    }
    return out;
  }

  /** Resources validated per profile. */
  totals(): Map<string, number> {
    return new Map([...this.profiles].map(([url, t]) => [url, t.total]));
  }
}

/** Validates `resources` (each against its meta.profile, or `profileUrl`) and returns the coverage with the
 *  issues found, for callers that want both from one pass. */
export function mustSupportCoverage(
  validator: { validate(resource: unknown, profileUrl?: string, coverage?: MustSupportCoverage): ValidationIssue[] },
  resources: Iterable<unknown>,
  profileUrl?: string,
): { coverage: MustSupportCoverage; issues: ValidationIssue[] } {
  const coverage = new MustSupportCoverage();
  const issues: ValidationIssue[] = [];
  for (const r of resources) issues.push(...validator.validate(r, profileUrl, coverage));
  return { coverage, issues };
}
