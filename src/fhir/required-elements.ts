// Lists the required (min ≥ 1) elements of a profile that a resource lacks, reading the profile's snapshot.
// Not a full profile validator (no types, invariants, terminology beyond slice matching): it answers "is
// everything the IG says must be there actually there?", which is what mapping authors get wrong most.
// Profiles (CARIN BB 2.0.0, US Core 6.1.0) ship trimmed and gzipped beside this file (see assets/SOURCE.md).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

// src/fhir and dist/fhir are both two levels below the package root.
const PROFILES_PATH = fileURLToPath(new URL('../../src/fhir/assets/profiles.json.gz', import.meta.url));

interface ElementDef {
  id: string;
  min: number;
  max: string;
  sliceName?: string;
  discriminator?: Array<{ type: string; path: string }>;
  pattern?: unknown;
  valueSet?: string;
  types?: string[];
}
interface ProfileDef {
  type: string;
  elements: ElementDef[];
}
interface ValueSetInclude {
  system?: string;
  codes?: string[];
  valueSets?: string[];
}
interface ProfileBundle {
  profiles: Record<string, ProfileDef>;
  valueSets: Record<string, ValueSetInclude[]>;
}

/** One element definition with its children and, when it is sliced, its slices. */
interface Node {
  def: ElementDef;
  /** last id segment without the slice name, e.g. `timing[x]` */
  name: string;
  children: Node[];
  slices: Node[];
}

type Json = Record<string, unknown>;

let bundle: ProfileBundle | undefined;
const trees = new Map<string, Node>();

function loadBundle(): ProfileBundle {
  bundle ??= JSON.parse(gunzipSync(readFileSync(PROFILES_PATH)).toString('utf8')) as ProfileBundle;
  return bundle;
}

/** Canonical URLs of the profiles this checker knows. */
export function knownProfiles(): string[] {
  return Object.keys(loadBundle().profiles);
}

/**
 * Paths of required elements (min ≥ 1 in the profile snapshot) missing from `resource`, e.g.
 * `ExplanationOfBenefit.item[0].sequence` or `ExplanationOfBenefit.supportingInfo:admissionperiod`.
 * Slices count as present when an element matches their fixed/pattern discriminator, their type
 * discriminator, or (for a required binding on the discriminator path) a code of the bound value set.
 * Throws for an unknown profile URL (a `|version` suffix is ignored).
 */
export function missingRequiredElements(resource: unknown, profileUrl: string): string[] {
  const url = profileUrl.split('|')[0]!;
  const profile = loadBundle().profiles[url];
  if (!profile) throw new Error(`unknown profile ${url} (known: CARIN BB 2.0.0 and US Core 6.1.0 profiles)`);
  const res = resource as Json | null;
  if (!res || typeof res !== 'object' || res.resourceType !== profile.type) {
    return [`${profile.type} (resourceType is ${JSON.stringify(res?.resourceType)})`];
  }
  let root = trees.get(url);
  if (!root) {
    root = buildTree(profile.elements);
    trees.set(url, root);
  }
  const missing: string[] = [];
  checkChildren(root, res, profile.type, missing);
  return missing;
}

function buildTree(elements: ElementDef[]): Node {
  const byId = new Map<string, Node>();
  let root: Node | undefined;
  for (const def of elements) {
    const segments = splitId(def.id);
    const last = segments[segments.length - 1]!;
    const colon = last.indexOf(':');
    const node: Node = { def, name: colon < 0 ? last : last.slice(0, colon), children: [], slices: [] };
    byId.set(def.id, node);
    if (segments.length === 1) {
      root = node;
      continue;
    }
    if (colon >= 0 && def.sliceName !== undefined && last.slice(colon + 1) === def.sliceName) {
      // A slice hangs off the sliced element (same id without the `:sliceName` suffix).
      const slicedId = def.id.slice(0, def.id.length - def.sliceName.length - 1);
      byId.get(slicedId)?.slices.push(node);
    } else {
      byId.get(segments.slice(0, -1).join('.'))?.children.push(node);
    }
  }
  if (!root) throw new Error('profile snapshot has no root element');
  return root;
}

/** Element id segments (`ExplanationOfBenefit.supportingInfo:drg.code` → 3 segments); the profiles
 *  shipped have no dots in slice names. */
function splitId(id: string): string[] {
  return id.split('.');
}

/** Values of one element (by definition name, `[x]` choices included) in an instance object. */
function valuesOf(obj: Json, name: string): unknown[] {
  if (name.endsWith('[x]')) {
    const prefix = name.slice(0, -3);
    const out: unknown[] = [];
    for (const [k, v] of Object.entries(obj)) {
      if (k.length > prefix.length && k.startsWith(prefix) && /[A-Z]/.test(k[prefix.length]!)) out.push(...asArray(v));
    }
    return out;
  }
  const v = obj[name];
  if (v === undefined || v === null) {
    // A primitive may be present only through its extension (`_birthDate`).
    return obj[`_${name}`] !== undefined ? asArray(obj[`_${name}`]) : [];
  }
  return asArray(v);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function checkChildren(node: Node, instance: Json, path: string, missing: string[]): void {
  for (const child of node.children) {
    if (child.def.max === '0') continue;
    const values = valuesOf(instance, child.name);
    const childPath = `${path}.${child.name}`;
    if (values.length < child.def.min) missing.push(childPath);
    values.forEach((value, i) => {
      if (value !== null && typeof value === 'object') {
        checkChildren(child, value as Json, values.length > 1 || child.def.max !== '1' ? `${childPath}[${i}]` : childPath, missing);
      }
    });
    if (child.slices.length > 0) checkSlices(child, instance, values, childPath, missing);
  }
}

function checkSlices(sliced: Node, owner: Json, values: unknown[], path: string, missing: string[]): void {
  const discriminators = sliced.def.discriminator ?? [];
  for (const slice of sliced.slices) {
    let members: unknown[];
    if (sliced.name.endsWith('[x]') && discriminators.some((d) => d.type === 'type' && d.path === '$this')) {
      // Choice-type slice (`timing[x]:timingPeriod`): the JSON key names the type.
      const type = slice.def.types?.[0];
      if (!type) continue;
      const v = owner[sliced.name.slice(0, -3) + type[0]!.toUpperCase() + type.slice(1)];
      members = v === undefined ? [] : asArray(v);
    } else {
      const matcher = sliceMatcher(slice, discriminators);
      // A slice whose membership cannot be decided here is skipped rather than guessed.
      if (!matcher) continue;
      members = values.filter(matcher);
    }
    const slicePath = `${path}:${slice.def.sliceName!}`;
    if (members.length < slice.def.min) missing.push(slicePath);
    members.forEach((member, i) => {
      if (member !== null && typeof member === 'object') {
        checkChildren(slice, member as Json, members.length > 1 ? `${slicePath}[${i}]` : slicePath, missing);
      }
    });
  }
}

/** A predicate telling whether an instance value belongs to `slice`, or undefined when undecidable. */
function sliceMatcher(slice: Node, discriminators: Array<{ type: string; path: string }>): ((v: unknown) => boolean) | undefined {
  if (discriminators.length === 0) return undefined;
  const tests: Array<(v: unknown) => boolean> = [];
  for (const d of discriminators) {
    if (d.type !== 'value' && d.type !== 'pattern') return undefined;
    const target = d.path === '$this' ? slice : findDescendant(slice, d.path);
    if (!target) return undefined;
    if (target.def.pattern !== undefined) {
      const pattern = target.def.pattern;
      tests.push((v) => valuesAt(v, d.path).some((x) => matchesPattern(x, pattern)));
    } else if (target.def.valueSet && loadBundle().valueSets[target.def.valueSet]) {
      const includes = loadBundle().valueSets[target.def.valueSet]!;
      tests.push((v) => valuesAt(v, d.path).some((x) => inValueSet(x, includes)));
    } else {
      return undefined;
    }
  }
  return (v) => tests.every((t) => t(v));
}

function findDescendant(node: Node, path: string): Node | undefined {
  let current: Node | undefined = node;
  for (const part of path.split('.')) {
    current = current?.children.find((c) => c.name === part || c.name === `${part}[x]`);
  }
  return current;
}

function valuesAt(value: unknown, path: string): unknown[] {
  if (path === '$this') return [value];
  let current: unknown[] = [value];
  for (const part of path.split('.')) {
    current = current.flatMap((c) => (c !== null && typeof c === 'object' ? valuesOf(c as Json, part) : []));
  }
  return current;
}

/** FHIR pattern semantics: every property of the pattern is in the value; pattern arrays match by item. */
function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    const arr = asArray(value);
    return pattern.every((p) => arr.some((v) => matchesPattern(v, p)));
  }
  if (pattern !== null && typeof pattern === 'object') {
    if (value === null || typeof value !== 'object') return false;
    return Object.entries(pattern as Json).every(([k, p]) => matchesPattern((value as Json)[k], p));
  }
  return value === pattern;
}

function inValueSet(value: unknown, includes: ValueSetInclude[], depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 5) return false;
  const v = value as Json;
  const codings = (Array.isArray(v.coding) ? v.coding : 'code' in v ? [v] : []) as Json[];
  return includes.some((inc) => {
    if (inc.valueSets?.length) {
      return inc.valueSets.every((u) => {
        const nested = loadBundle().valueSets[u.split('|')[0]!];
        return nested ? inValueSet(value, nested, depth + 1) : false;
      });
    }
    return codings.some((c) => c.system === inc.system && (!inc.codes || inc.codes.includes(String(c.code))));
  });
}
