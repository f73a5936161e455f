// Every shipped mapping set, exported from its sample with validation on (as `fhir-bridge export` does by
// default): no resource may fail its profile (zero errors, nothing rejected; the ExplanationOfBenefits all
// exported, against the profile each set claims), and each mapping's must-support coverage may not fall below
// the recorded baseline (must-support-baseline.json). A change meant to alter coverage regenerates it:
// UPDATE_MUST_SUPPORT_BASELINE=1 npx vitest run test/validation/shipped-mappings.test.ts; the diff shows
// which elements moved. The README's coverage table is printed from the same numbers (PRINT_COVERAGE=1).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OperationOutcome } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationSummary } from '../../src/pipeline/validate-resource.js';
import { sharedValidator } from '../../src/pipeline/validate-resource.js';
import type { ProfileValidator } from '../../src/validation/index.js';
import { table } from '../claims/synthea-expected.js';
import { exportConnector } from '../synthea/collect-export.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BASELINE_FILE = path.join(import.meta.dirname, 'must-support-baseline.json');
const UPDATE = process.env.UPDATE_MUST_SUPPORT_BASELINE === '1';

/** mapping set → the connector whose sample it is exported from (only that set's mappings run) */
const SETS: Record<string, { connector: string; mappings?: string[] }> = {
  synthea: { connector: 'connectors/synthea-sqlite.yaml', mappings: ['mappings/synthea'] },
  'synthea-claims': { connector: 'connectors/synthea-sqlite.yaml', mappings: ['mappings/synthea-claims'] },
  'cms-ccw-rif': { connector: 'connectors/cms-ccw-rif.yaml' },
  'omop-cdm54': { connector: 'connectors/omop-csv.yaml' },
  'mimic-iv': { connector: 'connectors/mimic-csv.yaml' },
};

const C4BB_EOB = 'http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit';
const R4_EOB = 'http://hl7.org/fhir/StructureDefinition/ExplanationOfBenefit';

/**
 * What each set's ExplanationOfBenefits are validated against, and how many the sample must export (nothing
 * rejected). The Synthea claims EOBs claim no profile (Synthea's SNOMED CT / RxNorm codes cannot meet the
 * CARIN BB bindings, see mappings/synthea-claims/eob.yaml): base R4, one per claims.csv row (561). The CMS
 * RIF EOBs have the codes and are C4BB EOBs.
 */
const EOBS: Record<string, { profile: 'R4' | 'C4BB'; count: () => number }> = {
  'synthea-claims': { profile: 'R4', count: () => table('claims.csv').length },
  'cms-ccw-rif': { profile: 'C4BB', count: () => rifClaimCount() },
};

/** Claims in the CMS RIF sample: one EOB per distinct CLM_ID (PDE_ID for Part D events) of each claim file. */
function rifClaimCount(): number {
  const dir = path.join(ROOT, 'samples/cms-ccw-rif');
  let n = 0;
  for (const file of readdirSync(dir).filter((f) => /^sample-a-.*\.txt$/.test(f) && !f.includes('beneficiar'))) {
    const [header, ...lines] = readFileSync(path.join(dir, file), 'utf8').split(/\r?\n/).filter(Boolean);
    const columns = header!.split('|');
    const key = columns.indexOf(columns.includes('CLM_ID') ? 'CLM_ID' : 'PDE_ID');
    n += new Set(lines.map((l) => l.split('|')[key])).size;
  }
  return n;
}

/** "set/mapping" → profile → must-support element id → share of resources populating it */
type Baseline = Record<string, Record<string, Record<string, number>>>;
const baseline: Baseline = existsSync(BASELINE_FILE) ? (JSON.parse(await readFile(BASELINE_FILE, 'utf8')) as Baseline) : {};
const measured: Baseline = {};

let validator: ProfileValidator;
beforeAll(async () => {
  validator = await sharedValidator();
}, 120_000);

afterAll(async () => {
  if (UPDATE) await writeFile(BASELINE_FILE, `${JSON.stringify(measured, null, 2)}\n`);
  if (process.env.PRINT_COVERAGE === '1') console.log(coverageTable(measured));
});

/** Share (0..1, 3 decimals) of the resources validated against each profile that populate each must-support element. */
function shares(v: ValidationSummary): Record<string, Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const [mapping, profiles] of Object.entries(v.mustSupport)) {
    const perProfile: Record<string, Record<string, number>> = {};
    out[mapping] = perProfile;
    for (const [profile, tally] of Object.entries(profiles)) {
      if (tally.resources === 0) continue;
      perProfile[profile] = Object.fromEntries(
        Object.entries(tally.elements).map(([element, n]) => [element, Math.round((n / tally.resources) * 1000) / 1000]),
      );
    }
  }
  return out;
}

function errorsOf(outcomes: OperationOutcome[]): Array<{ expression: string; diagnostics: string }> {
  return outcomes.flatMap((o) =>
    o.issue.filter((i) => i.severity === 'error').map((i) => ({ expression: i.expression?.[0] ?? '', diagnostics: i.diagnostics ?? '' })),
  );
}

for (const [set, { connector, mappings }] of Object.entries(SETS)) {
  describe(`mappings/${set} exported with validation`, () => {
    let summary: ValidationSummary;
    let errors: Array<{ expression: string; diagnostics: string }>;
    let eobs: Array<{ meta?: { profile?: string[] } }>;
    beforeAll(async () => {
      const out = await exportConnector(
        path.join(ROOT, connector),
        { validator },
        mappings?.map((m) => path.join(ROOT, m)),
      );
      summary = out.summary.validation!;
      errors = errorsOf(out.errors as OperationOutcome[]);
      eobs = out.resources.filter((r) => r.resourceType === 'ExplanationOfBenefit');
    }, 300_000);

    it('validates every resource it exports', () => {
      expect(summary.resources).toBeGreaterThan(0);
    });

    it('makes no resource that fails its profile', () => {
      // the first few, with their file:line:col, profile and row, are what a failure needs to show
      expect(errors.slice(0, 10).map((e) => `${e.expression}: ${e.diagnostics}`)).toEqual([]);
      expect(summary.errors).toEqual({});
      expect(summary.rejected).toBe(0);
    });

    const expectedEobs = EOBS[set];
    if (expectedEobs) {
      it(`exports every ExplanationOfBenefit, validated against ${expectedEobs.profile === 'R4' ? 'base R4' : 'its CARIN BB profile'}`, () => {
        const count = expectedEobs.count();
        expect(count).toBeGreaterThan(0);
        expect(eobs).toHaveLength(count);
        // which definitions the validator used, per mapping: summary.json's must-support tallies name them
        const validatedAgainst = Object.values(summary.mustSupport).flatMap((profiles) =>
          Object.entries(profiles)
            .filter(([profile]) => profile === R4_EOB || profile.startsWith(C4BB_EOB))
            .map(([profile, tally]) => ({ profile, resources: tally.resources })),
        );
        if (expectedEobs.profile === 'R4') {
          for (const eob of eobs) expect(eob.meta?.profile).toBeUndefined();
          expect(validatedAgainst).toEqual([{ profile: R4_EOB, resources: count }]);
        } else {
          for (const eob of eobs) expect(eob.meta?.profile?.some((p) => p.startsWith(C4BB_EOB))).toBe(true);
          expect(validatedAgainst.every((v) => v.profile.startsWith(C4BB_EOB))).toBe(true);
          expect(validatedAgainst.reduce((n, v) => n + v.resources, 0)).toBe(count);
        }
      });
    }

    it('keeps each mapping’s must-support coverage at or above the recorded baseline', () => {
      const now = shares(summary);
      Object.assign(measured, Object.fromEntries(Object.entries(now).map(([m, p]) => [`${set}/${m}`, p])));
      if (UPDATE) return;
      const drops: string[] = [];
      for (const [key, profiles] of Object.entries(baseline)) {
        const [baseSet, mapping] = key.split('/') as [string, string];
        if (baseSet !== set) continue;
        for (const [profile, elements] of Object.entries(profiles)) {
          for (const [element, share] of Object.entries(elements)) {
            const current = now[mapping]?.[profile]?.[element] ?? 0;
            if (current < share) drops.push(`${key} ${profile} ${element}: ${share} → ${current}`);
          }
        }
      }
      expect(
        Object.keys(baseline).some((k) => k.startsWith(`${set}/`)),
        `no baseline for ${set}: run with UPDATE_MUST_SUPPORT_BASELINE=1`,
      ).toBe(true);
      expect(drops).toEqual([]);
    });
  });
}

/** The README table: one row per mapping and profile, with how many must-support elements the sample fills. */
function coverageTable(all: Baseline): string {
  const rows = ['| mapping | profile | must-support elements populated | lowest shares |', '|---|---|---|---|'];
  for (const [key, profiles] of Object.entries(all).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [profile, elements] of Object.entries(profiles)) {
      const entries = Object.entries(elements);
      const filled = entries.filter(([, s]) => s > 0).length;
      const lowest = entries
        .filter(([, s]) => s > 0 && s < 1)
        .sort((a, b) => a[1] - b[1])
        .slice(0, 3)
        .map(([e, s]) => `${e.split('.').slice(1).join('.')} ${Math.round(s * 100)}%`)
        .join(', ');
      rows.push(`| ${key} | ${profile.split('/').pop()} | ${filled} of ${entries.length} | ${lowest} |`);
    }
  }
  return rows.join('\n');
}
