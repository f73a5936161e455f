// A profile's FHIRPath constraints, each compiled once with fhirpath.js (R4 model) and run on the
// element it is defined on. Some are not run, because they would cost an interpreter call on every
// element while saying nothing the structural checks do not already say, or because they only matter
// when something rare is present (listed in SKIPPED and GUARDS, and in the README).
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4/index.js';
import type { ElementDefinition } from './conformance.js';

type Constraint = NonNullable<ElementDefinition['constraint']>[number];

/** Constraint keys never evaluated, and why. */
export const SKIPPED_INVARIANTS: Record<string, string> = {
  'ele-1': 'every element has a value or children: the structural check rejects null, empty objects and empty arrays',
  'ext-1': 'an extension has a value or nested extensions, not both: checked natively for every extension',
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
  holds(value: unknown, resource: unknown): boolean;
}

const compiled = new Map<string, Invariant | null>();
/** Constraints whose expression fhirpath.js cannot compile: key → message (reported, not evaluated). */
export const uncompilableInvariants = new Map<string, string>();

/**
 * The invariant to run for `constraint` on an element at `path` (e.g. `Patient.name`), or undefined when
 * it is skipped: a warning-level constraint (best practice: not an error and not cheap), a key in
 * SKIPPED_INVARIANTS, or an expression fhirpath.js cannot compile.
 */
export function compileInvariant(constraint: Constraint, path: string): Invariant | undefined {
  if (constraint.severity !== 'error' || !constraint.expression || constraint.key in SKIPPED_INVARIANTS) return undefined;
  const cacheKey = `${path}\u0000${constraint.key}\u0000${constraint.expression}`;
  const hit = compiled.get(cacheKey);
  if (hit !== undefined) return hit ?? undefined;
  let invariant: Invariant | null = null;
  try {
    // The base path lets fhirpath.js type the context element (choice types, `as(canonical)`).
    const fn = fhirpath.compile({ base: path, expression: constraint.expression }, r4model, {
      resolveInternalTypes: true,
      traceFn: () => {},
    });
    const guard = GUARDS[constraint.key];
    invariant = {
      key: constraint.key,
      human: constraint.human,
      severity: constraint.severity,
      holds(value, resource) {
        if (guard && !guard(value as Record<string, unknown>)) return true;
        const result = fn(value, { resource, rootResource: resource }) as unknown[];
        // FHIRPath: an empty result or a single true passes (the spec treats empty as "no violation").
        return result.length === 0 || (result.length === 1 && result[0] === true) || result.every((r) => r === true);
      },
    };
  } catch (e) {
    uncompilableInvariants.set(constraint.key, (e as Error).message);
  }
  compiled.set(cacheKey, invariant);
  return invariant ?? undefined;
}
