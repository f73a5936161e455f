// No false positives: every example the US Core 6.1.0 and CARIN BB 2.0.0 packages ship validates with zero
// errors against the profiles in its meta.profile (its base resource type when it names none, as the
// Bundles and Media examples do). Older US Core packages stay loadable.
import { describe, expect, it } from 'vitest';
import { loadConformance } from './conformance.js';
import { readFhirPackage } from './package-loader.js';
import { sharedValidator, shippedPackages } from '../../test/support/validation.js';
import { ProfileValidator } from './validator.js';

const CONFORMANCE_DATA = '/work/shared/data/fhir-r4-conformance/packages';

describe('official examples', () => {
  it('reads every example of both packages', async () => {
    const [usCore, carin] = await shippedPackages();
    // The counts the package manifests' example folders hold (see src/fhir/assets/SOURCE.md).
    expect(usCore!.name).toBe('hl7.fhir.us.core');
    expect(usCore!.examples).toHaveLength(183);
    expect(carin!.name).toBe('hl7.fhir.us.carin-bb');
    expect(carin!.examples).toHaveLength(32);
  });

  it('every example validates with zero errors against its own profiles', { timeout: 120_000 }, async () => {
    const validator = await sharedValidator();
    const errors: string[] = [];
    let checked = 0;
    for (const pkg of await shippedPackages()) {
      for (const { file, resource } of pkg.examples) {
        checked++;
        for (const issue of validator.validate(resource)) {
          if (issue.severity === 'error') errors.push(`${pkg.name} ${file}: ${issue.expression}: ${issue.message} [${issue.profile}]`);
        }
      }
    }
    expect(checked).toBe(215);
    expect(errors).toEqual([]);
  });

  it('checks each example against the profile its meta.profile names, not just the base type', async () => {
    const validator = await sharedValidator();
    for (const pkg of await shippedPackages()) {
      for (const { resource } of pkg.examples) {
        const declared = (resource.meta as { profile?: string[] } | undefined)?.profile ?? [];
        const { structures, unknown } = validator.profilesOf(resource);
        // Only the SDC Questionnaire profile (another IG) is not in the packages.
        for (const url of unknown) expect(url).toBe('http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire');
        if (declared.length > 0 && unknown.length === 0)
          expect(structures.map((s) => s.url).sort()).toEqual(declared.map((u) => u.split('|')[0]).sort());
      }
    }
  });
});

describe.each(['hl7.fhir.us.core-5.0.1.tgz', 'hl7.fhir.us.core-3.1.1.tgz'])('older package %s', (file) => {
  it('loads, compiles every profile and validates its examples without throwing', { timeout: 120_000 }, async (ctx) => {
    const path = `${CONFORMANCE_DATA}/${file}`;
    const pkg = await readFhirPackage(path).catch(() => undefined);
    if (!pkg) return ctx.skip();
    const validator = new ProfileValidator(await loadConformance({ packages: [path] }));
    const profiles = validator.conformance.profiles();
    expect(profiles.length).toBeGreaterThan(20);
    for (const sd of profiles) expect(validator.structure(sd.url)?.type).toBe(sd.type);
    for (const { resource } of pkg.examples) expect(() => validator.validate(resource)).not.toThrow();
  });
});
