// Every shipped mapping set, exported from its sample with validation on (as `fhir-bridge export` does by
// default): no resource may fail its profile, and each mapping's must-support coverage may not fall below
// the recorded baseline (must-support-baseline.json). A change meant to alter coverage regenerates it:
// UPDATE_MUST_SUPPORT_BASELINE=1 npx vitest run test/validation/shipped-mappings.test.ts; the diff shows
// which elements moved. The README's coverage table is printed from the same numbers (PRINT_COVERAGE=1).
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OperationOutcome } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationSummary } from '../../src/pipeline/validate-resource.js';
import { sharedValidator } from '../../src/pipeline/validate-resource.js';
import type { ProfileValidator } from '../../src/validation/index.js';
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

/**
 * Errors the Synthea sample cannot avoid, kept out of the zero-errors assertion and nothing else: Synthea
 * codes diagnoses and procedures in SNOMED CT and drugs in RxNorm and has no revenue codes, while the CARIN
 * BB EOB profiles bind these elements (required) to ICD-10-CM, CPT/HCPCS, ICD-10-PCS, NDC and NUBC revenue
 * codes (mappings/synthea-claims/eob.yaml says so). Each is a required binding on one of these elements of
 * an EOB made by the `eob` mapping; any other error fails the test.
 */
const SYNTHEA_CODE_GAPS =
  /^ExplanationOfBenefit\.(item\[\d+\]\.(productOrService|revenue)|diagnosis\[\d+\]\.diagnosis\.ofType\(CodeableConcept\)|procedure\[\d+\]\.procedure\.ofType\(CodeableConcept\))$/;

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
    beforeAll(async () => {
      const out = await exportConnector(
        path.join(ROOT, connector),
        { validator },
        mappings?.map((m) => path.join(ROOT, m)),
      );
      summary = out.summary.validation!;
      errors = errorsOf(out.errors as OperationOutcome[]);
    }, 300_000);

    it('validates every resource it exports', () => {
      expect(summary.resources).toBeGreaterThan(0);
    });

    it('makes no resource that fails its profile', () => {
      const unexpected = set === 'synthea-claims' ? errors.filter((e) => !SYNTHEA_CODE_GAPS.test(e.expression)) : errors;
      // the first few, with their file:line:col, profile and row, are what a failure needs to show
      expect(unexpected.slice(0, 10).map((e) => `${e.expression}: ${e.diagnostics}`)).toEqual([]);
    });

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
