// The JSON-subset FHIRPath compiler must judge every invariant as fhirpath.js does: each invariant met
// while validating the official examples (and a few broken ones) is evaluated both ways and compared.
import { describe, expect, it } from 'vitest';
import { example, sharedValidator, shippedPackages } from '../../test/support/validation.js';
import { compileJsonPath } from './fhirpath-json.js';
import { compiledInvariants, type Invariant } from './invariants.js';

describe('FHIRPath subset over JSON', () => {
  it('gives the same verdict as fhirpath.js on every invariant the examples reach', { timeout: 120_000 }, async () => {
    const validator = await sharedValidator();
    const packages = await shippedPackages();
    const resources = packages.flatMap((p) => p.examples.map((e) => e.resource));
    // A few variants that make invariants fail, so that "false" verdicts are compared too.
    const patient = await example('example/Patient-example.json');
    resources.push(
      { ...patient, name: [{ text: 'no family or given' }] },
      { ...patient, identifier: [{ system: 'urn:x', value: '1', period: { start: '2020-01-02', end: '2019-01-01' } }] },
      { ...patient, telecom: [{ value: '555-1234' }] },
      // dateTimes in different zones order by instant, not by text; a 1970 end is before its start
      {
        ...patient,
        identifier: [{ system: 'urn:x', value: '1', period: { start: '2015-02-20T18:34:30+02:00', end: '2015-02-20T17:00:00+00:00' } }],
      },
      {
        ...patient,
        identifier: [{ system: 'urn:x', value: '1', period: { start: '2015-02-20T18:34:30+00:00', end: '1970-01-01T00:00:00+00:00' } }],
      },
      { ...patient, identifier: [{ system: 'urn:x', value: '1', period: { start: '2015-02-20', end: '2015-02-20T00:00:00Z' } }] },
      // fractions of a second: the same number of digits compares, a different number is left to fhirpath.js
      {
        ...patient,
        identifier: [{ system: 'urn:x', value: '1', period: { start: '2015-02-20T18:34:30.50Z', end: '2015-02-20T18:34:30.25Z' } }],
      },
      {
        ...patient,
        identifier: [{ system: 'urn:x', value: '1', period: { start: '2015-02-20T18:34:30.5Z', end: '2015-02-20T18:34:30.25Z' } }],
      },
    );
    for (const r of resources) validator.validate(r); // compiles every profile the examples use
    const mismatches: string[] = [];
    const compared = new Map<string, number>();
    const originals = new Map<Invariant, Invariant['holds']>();
    for (const inv of compiledInvariants()) {
      if (!inv.fast) continue;
      originals.set(inv, inv.holds);
      inv.holds = (value, resource, memberOf, contextType) => {
        const v = inv.verdicts(value, resource, memberOf, contextType);
        if (v.fast !== undefined && v.slow !== undefined) {
          compared.set(inv.key, (compared.get(inv.key) ?? 0) + 1);
          if (v.fast !== v.slow)
            mismatches.push(`${inv.key} on ${JSON.stringify(value).slice(0, 200)}: subset ${v.fast}, fhirpath.js ${v.slow}`);
        }
        return originals.get(inv)!(value, resource, memberOf, contextType);
      };
    }
    try {
      for (const r of resources) validator.validate(r);
    } finally {
      for (const [inv, holds] of originals) inv.holds = holds;
    }
    expect(mismatches).toEqual([]);
    // the comparison is not vacuous: the common invariants were met, with both verdicts
    for (const key of ['us-core-6', 'per-1', 'obs-7', 'vs-2', 'cpt-2']) expect(compared.get(key) ?? 0).toBeGreaterThan(0);
  });

  it('leaves what it does not implement to fhirpath.js', () => {
    expect(compileJsonPath("descendants().where(reference = '#').exists()")).toBeUndefined();
    expect(compileJsonPath('member.resolve() is Practitioner')).toBeUndefined();
    expect(compileJsonPath('name.exists() or telecom.exists()')).toBeTypeOf('function');
  });

  it('evaluates paths, choices and three-valued logic on plain JSON', () => {
    const run = (expr: string, value: unknown) => compileJsonPath(expr)!(value, { resource: value, context: value });
    const obs = { resourceType: 'Observation', valueQuantity: { value: 3, system: 'http://unitsofmeasure.org' } };
    expect(run('value.exists()', obs)).toEqual([true]);
    expect(run("value.ofType(Quantity).system = 'http://unitsofmeasure.org'", obs)).toEqual([true]);
    expect(run('value.ofType(CodeableConcept).exists()', obs)).toEqual([false]);
    expect(run('component.empty() and dataAbsentReason.exists()', obs)).toEqual([false]);
    expect(run("status = 'final'", obs)).toEqual([]);
    expect(run("status = 'final' or value.exists()", obs)).toEqual([true]);
    expect(run("(status = 'final') implies issued.exists()", obs)).toEqual([]);
  });
});
