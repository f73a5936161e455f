// A profile's FHIRPath constraints, each compiled once with fhirpath.js (R4 model) and run on the
// element it is defined on. Some are not run, because they would cost an interpreter call on every
// element while saying nothing the structural checks do not already say, or because they only matter
// when something rare is present (listed in SKIPPED and GUARDS, and in the README).
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4/index.js';
import type { ElementDefinition } from './conformance.js';
import { compileJsonPath, type Env, FALLBACK, UNDECIDABLE } from './fhirpath-json.js';

type Constraint = NonNullable<ElementDefinition['constraint']>[number];

/** Constraint keys never evaluated, and why. */
export const SKIPPED_INVARIANTS: Record<string, string> = {
  'ele-1': 'every element has a value or children: the structural check rejects null, empty objects and empty arrays',
  'ext-1': 'an extension has a value or nested extensions, not both: checked natively for every extension',
  'txt-1': 'narrative XHTML rules (htmlChecks()): fhirpath.js does not implement htmlChecks; the div is checked as a non-empty string',
  'txt-2': 'narrative XHTML rules (htmlChecks()): fhirpath.js does not implement htmlChecks',
  'dom-3':
    "contained resources referenced from the container: fhirpath.js rejects the expression's descendants().as(canonical) at run time; contained resources get basic checks only",
};

/** Constraints evaluated only when a cheap test says they can be false (they are vacuously true otherwise). */
const GUARDS: Record<string, (value: Record<string, unknown>) => boolean> = {
  // dom-2..dom-5 only speak about contained resources.
  'dom-2': (v) => Array.isArray(v.contained),
  'dom-3': (v) => Array.isArray(v.contained),
  'dom-4': (v) => Array.isArray(v.contained),
  'dom-5': (v) => Array.isArray(v.contained),
  // ref-1 only speaks about local references (`#id`).
  'ref-1': (v) => typeof v.reference === 'string' && v.reference.startsWith('#'),
};

export interface Invariant {
  key: string;
  human: string;
  severity: 'error' | 'warning';
  /** true when the constraint holds; `value` is the element the constraint is defined on */
  holds(value: unknown, resource: unknown, memberOf?: Env['memberOf'], contextType?: string): boolean;
  /** evaluated by the JSON subset compiler (else always by fhirpath.js) */
  fast: boolean;
  /** both evaluators' verdicts, for tests: undefined where one cannot judge (outside the subset, async) */
  verdicts(value: unknown, resource: unknown, memberOf?: Env['memberOf'], contextType?: string): { fast?: boolean; slow?: boolean };
}

const compiled = new Map<string, Invariant | null>();
/** Every invariant compiled so far (tests compare the two evaluators on them). */
export function compiledInvariants(): Invariant[] {
  return [...compiled.values()].filter((i): i is Invariant => i !== null);
}
/** Constraints whose expression fhirpath.js cannot compile: key → message (reported, not evaluated). */
export const uncompilableInvariants = new Map<string, string>();
/** Constraints not evaluated because they follow references (resolve()). */
export const unresolvableInvariants = new Set<string>();
/** How often each constraint key went to fhirpath.js (outside the JSON subset), for benchmarks. */
export const slowRuns = new Map<string, number>();

/**
 * The invariant to run for `constraint` on an element at `path` (e.g. `Patient.name`), or undefined when
 * it is skipped: a warning-level constraint (best practice: not an error and not cheap) or a key in
 * SKIPPED_INVARIANTS. Its expression is compiled when the invariant first runs: parsing (fhirpath.js's
 * ANTLR parser, milliseconds per expression) was most of the cost of compiling a profile, and most
 * elements of a profile never occur in the data. An expression fhirpath.js cannot compile is never
 * evaluated (it holds), and is listed in uncompilableInvariants.
 */
export function compileInvariant(constraint: Constraint, path: string): Invariant | undefined {
  if (constraint.severity !== 'error' || !constraint.expression || constraint.key in SKIPPED_INVARIANTS) return undefined;
  const cacheKey = `${path}\u0000${constraint.key}\u0000${constraint.expression}`;
  const hit = compiled.get(cacheKey);
  if (hit !== undefined) return hit ?? undefined;
  const { key, expression } = constraint;
  type Slow = ReturnType<typeof fhirpath.compile>;
  let slowFn: Slow | null | undefined;
  // fhirpath.js's version runs only outside the subset (at compile time, or FALLBACK at run time) and in tests.
  const slow = (value: unknown, env: Record<string, unknown>): unknown[] => {
    if (slowFn === undefined) {
      try {
        // The base path lets fhirpath.js type the context element (choice types, `as(canonical)`).
        slowFn = fhirpath.compile({ base: path, expression }, r4model, { resolveInternalTypes: true, traceFn: () => {} });
      } catch (e) {
        uncompilableInvariants.set(key, (e as Error).message);
        slowFn = null;
      }
    }
    return slowFn === null ? [] : (slowFn(value, env) as unknown[]);
  };
  let prepared: { fast: ReturnType<typeof compileJsonPath>; needsResolve: boolean } | undefined;
  const prepare = (): NonNullable<typeof prepared> => {
    if (!prepared) {
      const fast = compileJsonPath(expression);
      // resolve() needs the referenced resource, which a single-resource validator does not have.
      const needsResolve = fast === undefined && /\bresolve\(\)/.test(expression);
      if (needsResolve) unresolvableInvariants.add(key);
      prepared = { fast, needsResolve };
    }
    return prepared;
  };
  const guard = GUARDS[key];
  // One environment per invariant, refilled on each run (runs never nest): no allocation per element.
  const env: Env = { resource: undefined, context: undefined, memberOf: undefined, contextType: undefined };
  const passes = (result: unknown[]): boolean => result.length === 0 || result.every((r) => r === true);
  const invariant: Invariant = {
    key,
    human: constraint.human,
    severity: constraint.severity,
    get fast() {
      return prepare().fast !== undefined;
    },
    holds(value, resource, memberOf, contextType) {
      if (guard && !guard(value as Record<string, unknown>)) return true;
      const { fast, needsResolve } = prepare();
      if (fast) {
        env.resource = resource;
        env.context = value;
        env.memberOf = memberOf;
        env.contextType = contextType;
        try {
          return passes(fast(value, env));
        } catch (e) {
          if (e === UNDECIDABLE) return true;
          if (e !== FALLBACK) throw e;
        }
      } else if (needsResolve) return true;
      // FHIRPath: an empty result passes (nothing to contradict), as does true.
      slowRuns.set(key, (slowRuns.get(key) ?? 0) + 1);
      return passes(slow(value, { resource, rootResource: resource }));
    },
    verdicts(value, resource, memberOf, contextType) {
      const out: { fast?: boolean; slow?: boolean } = {};
      const { fast } = prepare();
      try {
        if (fast) out.fast = passes(fast(value, { resource, context: value, memberOf, contextType }));
      } catch (e) {
        if (e !== FALLBACK && e !== UNDECIDABLE) throw e;
      }
      try {
        out.slow = passes(slow(structuredClone(value), { resource, rootResource: resource }));
      } catch {
        // async functions (memberOf, resolve) or a fhirpath.js limitation: no verdict
      }
      return out;
    },
  };
  compiled.set(cacheKey, invariant);
  return invariant;
}
