// The checks every shipped sample's export passes whatever its schema: the R4 JSON schema, the required
// elements of each claimed profile, references that resolve inside the export, and no empty values.
// Registered inside a suite's describe, over the resources its beforeAll exported.
import { expect, it } from 'vitest';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import type { FhirResource } from '../../src/mapping/types.js';
import { emptyValues, referencesOf } from '../synthea/collect-export.js';

export function itConformsToR4(resources: () => FhirResource[], timeoutMs: number): void {
  it(
    'validates every resource against the FHIR R4 JSON schema',
    () => {
      const validator = schemaValidator();
      const invalid = resources()
        .map((r) => ({ ref: `${r.resourceType}/${r.id}`, violations: validator.validate(r) }))
        .filter((x) => x.violations.length > 0);
      expect(invalid.slice(0, 3)).toEqual([]);
    },
    timeoutMs,
  );

  it(
    "has every required (min ≥ 1) element of its profile's snapshot",
    () => {
      const missing = resources().flatMap((r) =>
        (r.meta?.profile ?? []).flatMap((p) =>
          missingRequiredElements(r, p).map((m) => `${r.resourceType}/${r.id} (${p.split('/').pop()}): ${m}`),
        ),
      );
      expect(missing.slice(0, 10)).toEqual([]);
    },
    timeoutMs,
  );

  it('points every reference at a resource of the export, and writes nothing empty', () => {
    const present = new Set(resources().map((r) => `${r.resourceType}/${r.id}`));
    const dangling = resources().flatMap((r) =>
      referencesOf(r)
        .filter((ref) => !present.has(ref))
        .map((ref) => `${r.resourceType}/${r.id} → ${ref}`),
    );
    expect(dangling.slice(0, 5)).toEqual([]);
    expect(
      resources()
        .flatMap((r) => emptyValues(r).map((p) => `${r.resourceType}/${r.id}${p}`))
        .slice(0, 5),
    ).toEqual([]);
  });
}
