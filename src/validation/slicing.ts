// Slicing as US Core and CARIN BB use it: which slice a repeating value belongs to, decided by its
// discriminators (value/pattern on a path such as `url`, `coding.code`, `category` or `$this`, `type` on
// `$this`, `exists`). Each slice's discriminator values are read from the slice's snapshot elements (or
// its type profile: an extension slice's `url` is its profile's URL) once, when the profile is compiled.
// A discriminator that cannot be decided without resolving references (`profile`, `resolve()`) makes its
// slice undecidable: values then fall back to the sliced element and the slice's cardinality is not
// checked (rather than guessed).
import type { ElementDefinition } from './conformance.js';
import type { ElementNode, StructureCompiler } from './compile.js';
import { matchesPattern } from './values.js';

type Discriminator = { type: string; path: string };
type Test = (item: unknown) => boolean;

export interface Slicing {
  rules: 'open' | 'closed' | 'openAtEnd';
  discriminators: Discriminator[];
  /** every discriminator is `type` on `$this` (choice elements sliced by type) */
  typeOnly: boolean;
  /** builds the slice tests; called once the whole structure is compiled */
  prepare(compiler: StructureCompiler, sliced: ElementNode): void;
  /** the slice `item` belongs to, or undefined (no slice, or only undecidable ones could take it) */
  match(item: unknown): ElementNode | undefined;
  /** slices whose membership can be decided (their cardinality is checked) */
  decidable: Set<ElementNode>;
}

export function compileSlicing(def: NonNullable<ElementDefinition['slicing']>): Slicing {
  const discriminators = def.discriminator ?? [];
  const tests: Array<{ slice: ElementNode; test: Test }> = [];
  const decidable = new Set<ElementNode>();
  return {
    rules: def.rules ?? 'open',
    discriminators,
    typeOnly: discriminators.length > 0 && discriminators.every((d) => d.type === 'type' && d.path === '$this'),
    decidable,
    prepare(compiler, sliced) {
      for (const slice of sliced.slices) {
        const parts = discriminators.map((d) => discriminatorTest(compiler, slice, d));
        if (parts.length === 0 || parts.some((p) => p === undefined)) continue;
        const checks = parts as Test[];
        tests.push({ slice, test: checks.length === 1 ? checks[0]! : (item) => checks.every((t) => t(item)) });
        decidable.add(slice);
      }
    },
    match(item) {
      for (const { slice, test } of tests) if (test(item)) return slice;
      return undefined;
    },
  };
}

function discriminatorTest(compiler: StructureCompiler, slice: ElementNode, d: Discriminator): Test | undefined {
  const path = d.path.trim();
  if (d.type === 'type' && path === '$this') {
    const types = new Set(slice.types.map((t) => t.code));
    return (item) => {
      const rt = (item as { resourceType?: unknown } | null)?.resourceType;
      return typeof rt === 'string' && types.has(rt);
    };
  }
  if (d.type !== 'value' && d.type !== 'pattern' && d.type !== 'exists') return undefined;
  if (path.includes('(') && path !== '$this') return undefined;
  const parts = path === '$this' ? [] : path.split('.');
  const target = nodeAt(compiler, slice, parts);
  if (!target) return undefined;
  if (d.type === 'exists') {
    if (target.max === 0) return (item) => !someAt(item, parts, 0, present);
    if (target.min > 0) return (item) => someAt(item, parts, 0, present);
    return undefined;
  }
  const expected = target.fixed ?? target.pattern;
  if (expected !== undefined) {
    const matches = (v: unknown): boolean => matchesPattern(v, expected);
    return (item) => someAt(item, parts, 0, matches);
  }
  const matcher = target.binding?.strength === 'required' ? target.binding.matcher : undefined;
  if (matcher) {
    const inValueSet = (v: unknown): boolean => {
      if (typeof v === 'string') return matcher.hasCode(v);
      const o = v as { system?: unknown; code?: unknown; coding?: unknown };
      if (Array.isArray(o?.coding))
        return o.coding.some((c: { system?: unknown; code?: unknown }) => matcher.hasCoding(c?.system, c?.code));
      return matcher.hasCoding(o?.system, o?.code);
    };
    return (item) => someAt(item, parts, 0, inValueSet);
  }
  return undefined;
}

/** The element definition at `parts` below `slice` (through type profiles when the snapshot stops). */
function nodeAt(compiler: StructureCompiler, slice: ElementNode, parts: string[]): ElementNode | undefined {
  let current: ElementNode | undefined = slice;
  for (const part of parts) {
    if (!current) return undefined;
    let children: ElementNode[] = current.children;
    if (children.length === 0) {
      const type = current.types[0];
      if (!type) return undefined;
      // An extension slice without children: its url is the profile's URL.
      if (part === 'url' && type.code === 'Extension' && type.profile) {
        return { ...compiler.base('Extension')!.byId.get('Extension.url')!, fixed: type.profile };
      }
      children = compiler.content(current, type)?.children ?? [];
    }
    current = children.find((c) => c.name === part && c.sliceName === undefined);
  }
  return current;
}

const present = (): boolean => true;

/** Whether some value at `parts[i…]` below `item` satisfies `test`: valuesAt(item, parts).some(test)
 *  without building the arrays (slice discriminators run on every item of every sliced element). */
function someAt(item: unknown, parts: string[], i: number, test: (v: unknown) => boolean): boolean {
  if (i === parts.length) return test(item);
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
  const o = item as Record<string, unknown>;
  const part = parts[i]!;
  const v = o[part];
  if (v !== undefined) return someIn(v, parts, i + 1, test);
  for (const k of Object.keys(o)) {
    if (k.length > part.length && k.startsWith(part) && k.charCodeAt(part.length) >= 65 && k.charCodeAt(part.length) <= 90) {
      if (someIn(o[k], parts, i + 1, test)) return true;
    }
  }
  return false;
}

/** someAt over a value that may be an array (its items, as valuesAt flattens them). */
function someIn(v: unknown, parts: string[], i: number, test: (v: unknown) => boolean): boolean {
  if (!Array.isArray(v)) return someAt(v, parts, i, test);
  for (const x of v) if (someAt(x, parts, i, test)) return true;
  return false;
}

/** The values at a dotted path below `item` (arrays flattened; a choice name matches its typed keys). */
export function valuesAt(item: unknown, parts: string[]): unknown[] {
  let current: unknown[] = [item];
  for (const part of parts) {
    const next: unknown[] = [];
    for (const c of current) {
      if (c === null || typeof c !== 'object' || Array.isArray(c)) continue;
      const o = c as Record<string, unknown>;
      const v = o[part];
      if (v !== undefined) {
        if (Array.isArray(v)) next.push(...v);
        else next.push(v);
        continue;
      }
      for (const k of Object.keys(o)) {
        if (k.length > part.length && k.startsWith(part) && k.charCodeAt(part.length) >= 65 && k.charCodeAt(part.length) <= 90) {
          const cv = o[k];
          if (Array.isArray(cv)) next.push(...cv);
          else next.push(cv);
        }
      }
    }
    current = next;
  }
  return current;
}
