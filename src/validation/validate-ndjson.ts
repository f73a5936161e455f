// Validates every NDJSON file of a folder (ours or another system's; `.ndjson` or `.ndjson.gz`) line by
// line, without holding more than one resource at a time, into a report: counts per profile, the distinct
// issues with where each was first seen, and must-support coverage.
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type CoverageRow, MustSupportCoverage } from './must-support.js';
import type { IssueCode, IssueSeverity } from './types.js';
import type { ProfileValidator } from './validator.js';

export interface ProfileCount {
  profile: string;
  resources: number;
  /** resources with at least one error */
  invalid: number;
  errors: number;
  warnings: number;
}

export interface IssueGroup {
  severity: IssueSeverity;
  code: IssueCode;
  profile: string;
  /** FHIRPath with the indexes left out (`Patient.identifier.system`), so that one problem is one row */
  expression: string;
  message: string;
  count: number;
  /** where it was first seen: file name and 1-based line */
  first: { file: string; line: number; id?: string };
}

export interface OutputReport {
  dir: string;
  files: Array<{ file: string; resources: number }>;
  resources: number;
  /** resources with at least one error */
  invalid: number;
  errors: number;
  warnings: number;
  /** lines that are not JSON objects */
  unreadable: Array<{ file: string; line: number; message: string }>;
  profiles: ProfileCount[];
  issues: IssueGroup[];
  mustSupport: CoverageRow[];
  durationMs: number;
}

const NDJSON = /\.(ndjson|jsonl)(\.gz)?$/;

export async function validateNdjsonFolder(dir: string, validator: ProfileValidator): Promise<OutputReport> {
  const started = performance.now();
  const names = (await readdir(dir)).filter((n) => NDJSON.test(n)).sort();
  const coverage = new MustSupportCoverage();
  const profiles = new Map<string, ProfileCount>();
  const groups = new Map<string, IssueGroup>();
  const report: OutputReport = {
    dir,
    files: [],
    resources: 0,
    invalid: 0,
    errors: 0,
    warnings: 0,
    unreadable: [],
    profiles: [],
    issues: [],
    mustSupport: [],
    durationMs: 0,
  };
  const profileCount = (url: string): ProfileCount => {
    let p = profiles.get(url);
    if (!p) {
      p = { profile: url, resources: 0, invalid: 0, errors: 0, warnings: 0 };
      profiles.set(url, p);
    }
    return p;
  };
  for (const name of names) {
    let stream: Readable = createReadStream(join(dir, name));
    if (name.endsWith('.gz')) stream = stream.pipe(createGunzip());
    let line = 0;
    let count = 0;
    for await (const text of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
      line++;
      if (text.trim() === '') continue;
      let resource: unknown;
      try {
        resource = JSON.parse(text);
      } catch (e) {
        report.unreadable.push({ file: name, line, message: (e as Error).message });
        continue;
      }
      count++;
      const { structures } = validator.profilesOf(resource);
      const issues = validator.validate(resource, undefined, coverage);
      const invalidIn = new Set<string>();
      for (const s of structures) profileCount(s.url).resources++;
      for (const issue of issues) {
        const p = profileCount(issue.profile);
        if (issue.severity === 'error') {
          report.errors++;
          p.errors++;
          invalidIn.add(issue.profile);
        } else if (issue.severity === 'warning') {
          report.warnings++;
          p.warnings++;
        }
        const expression = issue.expression.replace(/\[\d+\]/g, '');
        const key = `${issue.severity}\u0000${issue.code}\u0000${issue.profile}\u0000${expression}\u0000${issue.message}`;
        const group = groups.get(key);
        if (group) group.count++;
        else {
          const id = (resource as { id?: unknown }).id;
          const first = typeof id === 'string' ? { file: name, line, id } : { file: name, line };
          groups.set(key, {
            severity: issue.severity,
            code: issue.code,
            profile: issue.profile,
            expression,
            message: issue.message,
            count: 1,
            first,
          });
        }
      }
      for (const url of invalidIn) profileCount(url).invalid++;
      if (invalidIn.size > 0) report.invalid++;
    }
    report.files.push({ file: name, resources: count });
    report.resources += count;
  }
  const rank = { error: 0, warning: 1, information: 2 } as const;
  report.profiles = [...profiles.values()].sort((a, b) => a.profile.localeCompare(b.profile));
  report.issues = [...groups.values()].sort((a, b) => rank[a.severity] - rank[b.severity] || b.count - a.count);
  report.mustSupport = coverage.rows();
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
