// Must-support coverage: for each profile resources were validated against, each must-support element
// (slices included) and how many of those resources populate it. Filled as a side effect of validation
// (the validator stamps the must-support nodes it meets with a number fresh per resource, see
// ElementNode.seenMark), so it costs a pass over the profile's must-support nodes per resource and no
// second walk.
import type { ElementNode, Structure } from './compile.js';
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
  /** element ids in snapshot order, each with its nodes (one, unless a snapshot repeats an id) and count */
  ids: string[];
  nodes: ElementNode[][];
  counts: number[];
}

function tallyOf(structure: Structure): ProfileTally {
  const at = new Map<string, number>();
  const tally: ProfileTally = { structure, total: 0, ids: [], nodes: [], counts: [] };
  for (const n of structure.mustSupport) {
    let i = at.get(n.id);
    if (i === undefined) {
      i = tally.ids.length;
      at.set(n.id, i);
      tally.ids.push(n.id);
      tally.nodes.push([]);
      tally.counts.push(0);
    }
    tally.nodes[i]!.push(n);
  }
  return tally;
}

export class MustSupportCoverage {
  private readonly profiles = new Map<string, ProfileTally>();

  /** Called by the validator once per resource and profile with the stamp it put on the nodes it met. */
  record(structure: Structure, mark: number): void {
    let tally = this.profiles.get(structure.url);
    if (!tally) {
      tally = tallyOf(structure);
      this.profiles.set(structure.url, tally);
    }
    tally.total++;
    const { nodes, counts } = tally;
    for (let i = 0; i < nodes.length; i++) {
      for (const n of nodes[i]!) {
        if (n.seenMark === mark) {
          counts[i]!++;
          break;
        }
      }
    }
  }

  /** One row per must-support element of each profile met, in snapshot order. */
  rows(): CoverageRow[] {
    const out: CoverageRow[] = [];
    for (const [profile, t] of this.profiles) {
      for (let i = 0; i < t.ids.length; i++) out.push({ profile, element: t.ids[i]!, populated: t.counts[i]!, total: t.total });
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
