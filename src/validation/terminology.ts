// Value set membership, expanded once per value set from what is loaded (the IG packages and the R4 base
// value sets and code systems). What cannot be expanded locally is decided leniently, never guessed:
// an include of a whole code system that is not loaded (SNOMED CT, ICD-10, NUBC…) or that is filtered
// accepts every code of that system; a value set that is not loaded at all (VSAC) is not checked.
import type { Conformance } from './conformance.js';

interface Concept {
  code: string;
  concept?: Concept[];
}
interface ConceptSet {
  system?: string;
  version?: string;
  concept?: Array<{ code: string }>;
  filter?: Array<{ property: string; op: string; value: string }>;
  valueSet?: string[];
}
interface ValueSetJson {
  url: string;
  compose?: { include?: ConceptSet[]; exclude?: ConceptSet[] };
  expansion?: { contains?: Array<{ system?: string; code?: string; contains?: unknown[] }> };
}
interface CodeSystemJson {
  url: string;
  content?: string;
  concept?: Concept[];
}

const ANY = 'any' as const;

/** Codes of a value set by system; `any` when every code of the system is accepted. */
export class ValueSetMatcher {
  constructor(
    readonly url: string,
    /** system → codes; `any` accepts every code of the system */
    readonly systems: ReadonlyMap<string, ReadonlySet<string> | typeof ANY>,
  ) {}

  /** A code with its system (Coding, Quantity). */
  hasCoding(system: unknown, code: unknown): boolean {
    if (typeof system !== 'string' || typeof code !== 'string') return false;
    const codes = this.systems.get(system);
    return codes === ANY || codes?.has(code) === true;
  }

  /** A bare `code` (or string/uri) bound to the value set: its system is implied. */
  hasCode(code: unknown): boolean {
    if (typeof code !== 'string') return false;
    for (const codes of this.systems.values()) if (codes === ANY || codes.has(code)) return true;
    return false;
  }
}

export class Terminology {
  private readonly matchers = new Map<string, ValueSetMatcher | null>();
  private readonly codeSystems = new Map<string, Set<string> | null>();
  constructor(private readonly conformance: Conformance) {}

  /** The matcher of a value set (canonical URL, `|version` allowed), or undefined when it is not loaded. */
  valueSet(url: string): ValueSetMatcher | undefined {
    let m = this.matchers.get(url);
    if (m === undefined) {
      // null marks "being expanded": a value set that includes itself is not expandable.
      this.matchers.set(url, null);
      m = this.expand(url) ?? null;
      this.matchers.set(url, m);
    }
    return m ?? undefined;
  }

  private expand(url: string): ValueSetMatcher | undefined {
    const vs = this.conformance.resolve(url) as unknown as ValueSetJson | undefined;
    if (!vs || (vs as unknown as { resourceType: string }).resourceType !== 'ValueSet') return undefined;
    const systems = new Map<string, Set<string> | typeof ANY>();
    const addAll = (system: string, codes: Iterable<string> | typeof ANY): void => {
      const have = systems.get(system);
      if (have === ANY) return;
      if (codes === ANY) {
        systems.set(system, ANY);
        return;
      }
      const set = have ?? new Set<string>();
      for (const c of codes) set.add(c);
      systems.set(system, set);
    };
    if (vs.compose?.include?.length) {
      for (const inc of vs.compose.include) {
        if (inc.valueSet?.length) {
          // An include of other value sets is their intersection; with one (the usual case) it is that set.
          if (inc.valueSet.length > 1 || inc.system) return undefined;
          const nested = this.valueSet(inc.valueSet[0]!);
          if (!nested) return undefined;
          for (const [s, codes] of nested.systems) addAll(s, codes);
          continue;
        }
        if (!inc.system) return undefined;
        if (inc.concept?.length)
          addAll(
            inc.system,
            inc.concept.map((c) => c.code),
          );
        else if (inc.filter?.length) addAll(inc.system, this.filtered(inc.system, inc.filter) ?? ANY);
        else addAll(inc.system, this.allCodes(inc.system) ?? ANY);
      }
      for (const exc of vs.compose.exclude ?? []) {
        const codes = exc.system ? systems.get(exc.system) : undefined;
        if (codes && codes !== ANY && exc.concept) for (const c of exc.concept) codes.delete(c.code);
      }
    } else if (vs.expansion?.contains) {
      const walk = (items: Array<{ system?: string; code?: string; contains?: unknown[] }>): void => {
        for (const c of items) {
          if (c.system && c.code) addAll(c.system, [c.code]);
          if (c.contains) walk(c.contains as typeof items);
        }
      };
      walk(vs.expansion.contains);
    } else {
      return undefined;
    }
    return new ValueSetMatcher(vs.url, systems);
  }

  /** Every code of a complete code system that is loaded, else undefined. */
  private allCodes(system: string): Set<string> | undefined {
    let codes = this.codeSystems.get(system);
    if (codes === undefined) {
      const cs = this.conformance.resolve(system) as unknown as CodeSystemJson | undefined;
      codes = null;
      if (cs && (cs as unknown as { resourceType: string }).resourceType === 'CodeSystem' && cs.content === 'complete' && cs.concept) {
        codes = new Set();
        const walk = (concepts: Concept[]): void => {
          for (const c of concepts) {
            codes!.add(c.code);
            if (c.concept) walk(c.concept);
          }
        };
        walk(cs.concept);
      }
      this.codeSystems.set(system, codes);
    }
    return codes ?? undefined;
  }

  /** `is-a`/`descendent-of` filters on a loaded hierarchical code system; other filters are not evaluated. */
  private filtered(system: string, filters: Array<{ property: string; op: string; value: string }>): Set<string> | undefined {
    if (filters.length !== 1) return undefined;
    const f = filters[0]!;
    if (f.property !== 'concept' || (f.op !== 'is-a' && f.op !== 'descendent-of')) return undefined;
    const cs = this.conformance.resolve(system) as unknown as CodeSystemJson | undefined;
    if (!cs?.concept || cs.content !== 'complete') return undefined;
    const find = (concepts: Concept[]): Concept | undefined => {
      for (const c of concepts) {
        if (c.code === f.value) return c;
        const inner = c.concept && find(c.concept);
        if (inner) return inner;
      }
      return undefined;
    };
    const root = find(cs.concept);
    if (!root) return undefined;
    const out = new Set<string>();
    const walk = (c: Concept, self: boolean): void => {
      if (self) out.add(c.code);
      for (const child of c.concept ?? []) walk(child, true);
    };
    walk(root, f.op === 'is-a');
    return out;
  }
}
