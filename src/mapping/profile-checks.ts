// Mapping-time checks of a resource template against the profiles its resource declares (`profile:`), from
// their snapshots: what is certain before any row is read is a MappingError at the template's line.
//   - an element the profile forbids (max 0), also inside a slice the template item certainly belongs to
//     (C4BB supportingInfo:patientweight has no timing[x]) and a slice that is forbidden as a whole;
//   - a choice type the profile does not allow (`effectiveInstant` where it allows dateTime or Period);
//   - a constant value that cannot match the element's fixed[x]/pattern[x] (`use: preauthorization` in a
//     C4BB EOB, a LOINC code other than the profile's on `Observation.code`).
// Only constants are judged: a column, a text template with a column, `$fhirpath`, lookups or `$each` may
// yield anything, so they are left to export-time validation. A template item is held to a slice's rules
// only when its constant discriminator values match that slice. The snapshots are those of
// src/fhir/assets/profiles.json.gz (US Core 6.1.0 and CARIN BB 2.0.0 resource profiles, read once per process):
// they merge fixed[x] and pattern[x] into one value, which is judged as a pattern (the template must contain
// it), the same test as fixed for primitives and a weaker one for complex values, so a check never fails a
// template the profile accepts. Profiles not in that file (`--package` ones) get no mapping-time check.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { ElementProblem } from './elements.js';
import { isPlainObject } from './lookups.js';
import type { Path } from './parse.js';
import { parseTemplate } from './template.js';

// src/mapping and dist/mapping are both two levels below the package root (as src/fhir/required-elements.ts).
const PROFILES_PATH = fileURLToPath(new URL('../../src/fhir/assets/profiles.json.gz', import.meta.url));

interface ElementDef {
  id: string;
  max: string;
  sliceName?: string;
  discriminator?: Array<{ type: string; path: string }>;
  pattern?: unknown;
  types?: string[];
}

interface Profile {
  url: string;
  /** "C4BB-ExplanationOfBenefit-Pharmacy|2.0.0", for messages */
  label: string;
  byId: Map<string, ElementDef>;
  /** element id → its slices' definitions */
  slices: Map<string, ElementDef[]>;
}

let profiles: Map<string, Profile> | undefined;

function loadProfiles(): Map<string, Profile> {
  if (profiles) return profiles;
  const bundle = JSON.parse(gunzipSync(readFileSync(PROFILES_PATH)).toString('utf8')) as {
    profiles: Record<string, { version?: string; elements: ElementDef[] }>;
  };
  profiles = new Map();
  for (const [url, p] of Object.entries(bundle.profiles)) {
    const byId = new Map(p.elements.map((e) => [e.id, e]));
    const slices = new Map<string, ElementDef[]>();
    for (const e of p.elements) {
      if (!e.sliceName || !e.id.endsWith(`:${e.sliceName}`)) continue;
      const sliced = e.id.slice(0, -(e.sliceName.length + 1));
      slices.set(sliced, [...(slices.get(sliced) ?? []), e]);
    }
    const label = `${url.split('/').pop()}${p.version ? `|${p.version}` : ''}`;
    profiles.set(url, { url, label, byId, slices });
  }
  return profiles;
}

/** The profile a declared canonical names, when its snapshot is known (and of the version declared, if any). */
function profileFor(canonical: string): Profile | undefined {
  const [url, version] = canonical.split('|');
  const p = loadProfiles().get(url!);
  if (!p || (version && !p.label.endsWith(`|${version}`))) return undefined;
  return p;
}

/** Problems of one resource template against each of its declared profiles that has a known snapshot. */
export function checkProfiles(resourceType: string, declared: string[], template: Record<string, unknown>, path: Path): ElementProblem[] {
  const out: ElementProblem[] = [];
  for (const canonical of declared) {
    const profile = profileFor(canonical);
    if (!profile?.byId.has(resourceType)) continue;
    const seen = new Set<string>();
    const report = (p: ElementProblem) => {
      const key = `${p.path.join('/')}|${p.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(p);
      }
    };
    walkObject(profile, [resourceType], template, path, resourceType, report);
  }
  return out;
}

type Report = (p: ElementProblem) => void;

/** The definitions (element ids) a template key names under each of the contexts: the element itself, or a
 *  choice element `value[x]` and its type slice `value[x]:valueQuantity`. */
function resolve(profile: Profile, contexts: string[], name: string): Array<{ def: ElementDef; choiceType?: string }> {
  const out: Array<{ def: ElementDef; choiceType?: string }> = [];
  for (const ctx of contexts) {
    const direct = profile.byId.get(`${ctx}.${name}`);
    if (direct) {
      out.push({ def: direct });
      continue;
    }
    // the longest element name that is a choice element: valueCodeableConcept → value[x]
    for (let i = name.length - 1; i > 0; i--) {
      if (!/[A-Z]/.test(name[i]!)) continue;
      const choice = profile.byId.get(`${ctx}.${name.slice(0, i)}[x]`);
      if (!choice) continue;
      out.push({ def: choice, choiceType: name.slice(i) });
      const typeSlice = profile.byId.get(`${choice.id}:${name}`);
      if (typeSlice) out.push({ def: typeSlice });
      break;
    }
  }
  return out;
}

function walkObject(
  profile: Profile,
  contexts: string[],
  obj: Record<string, unknown>,
  path: Path,
  fhirPath: string,
  report: Report,
): void {
  for (const [name, v] of Object.entries(obj)) {
    if (name.startsWith('$') || name.startsWith('_')) continue;
    const defs = resolve(profile, contexts, name);
    if (defs.length === 0) continue;
    const element = `${fhirPath}.${name}`;
    const at = [...path, name];
    for (const { def, choiceType } of defs) {
      if (def.max === '0') {
        const slice = enclosingSlice(def.id);
        report({
          path: at,
          message: `${element} is not allowed by profile ${profile.label}${slice ? ` in its ${slice} slice` : ''} (${def.id} has max 0)`,
          atKey: true,
        });
      }
      if (choiceType && def.types && !def.types.some((t) => t.toLowerCase() === choiceType.toLowerCase())) {
        report({
          path: at,
          message: `${element}: profile ${profile.label} allows ${def.id.split('.').pop()} only as ${def.types.join(', ')}`,
          atKey: true,
        });
      }
      if (def.pattern !== undefined) checkPattern(profile, def, v, at, element, report);
    }
    const childContexts = defs.map((d) => d.def.id);
    walkValue(profile, childContexts, v, at, element, report);
  }
}

/** Each value an element gets from a template value (array items, the branches of `$if` / `$first`) is
 *  walked with the contexts of the element, plus a slice the item certainly belongs to. */
function walkValue(profile: Profile, contexts: string[], v: unknown, path: Path, fhirPath: string, report: Report): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      walkValue(profile, contexts, x, [...path, i], fhirPath, report);
    });
    return;
  }
  if (!isPlainObject(v)) return;
  if ('$each' in v) {
    walkValue(profile, contexts, v.$template, [...path, '$template'], fhirPath, report);
    return;
  }
  if ('$if' in v) {
    walkValue(profile, contexts, v.$then, [...path, '$then'], fhirPath, report);
    walkValue(profile, contexts, v.$else, [...path, '$else'], fhirPath, report);
    return;
  }
  if ('$first' in v) {
    walkValue(profile, contexts, v.$first, [...path, '$first'], fhirPath, report);
    return;
  }
  if (hasDirective(v)) return;
  const sliced: string[] = [];
  for (const ctx of contexts) {
    for (const slice of profile.slices.get(ctx) ?? []) {
      if (!belongsTo(profile, ctx, slice, v)) continue;
      if (slice.max === '0')
        report({
          path,
          message: `${fhirPath}: this item is the ${slice.sliceName} slice, which profile ${profile.label} does not allow (max 0)`,
        });
      sliced.push(slice.id);
    }
  }
  walkObject(profile, [...sliced, ...contexts], v, path, fhirPath, report);
}

/** "patientweight" for ExplanationOfBenefit.supportingInfo:patientweight.timing[x] (the innermost slice). */
function enclosingSlice(id: string): string | undefined {
  const segment = id
    .split('.')
    .reverse()
    .find((s) => s.includes(':'));
  return segment?.split(':')[1];
}

/** Is the template item certainly of this slice: every discriminator (value or pattern) is a constant in the
 *  item that matches the slice's fixed/pattern value? Type, profile and exists discriminators are not judged. */
function belongsTo(profile: Profile, sliced: string, slice: ElementDef, item: Record<string, unknown>): boolean {
  const discriminators = profile.byId.get(sliced)?.discriminator ?? [];
  if (discriminators.length === 0) return false;
  for (const d of discriminators) {
    if (d.type !== 'value' && d.type !== 'pattern') return false;
    const expected = d.path === '$this' ? slice.pattern : profile.byId.get(`${slice.id}.${d.path}`)?.pattern;
    if (expected === undefined) return false;
    const found = d.path === '$this' ? [item] : valuesAt(item, d.path.split('.'));
    // constants only: matches() is then exact
    if (found === undefined || !found.some((x) => isConstant(x) && matches(x, expected))) return false;
  }
  return true;
}

/** The constant values at a dotted path of a template item (arrays flattened); undefined when a directive
 *  is on the way or a value found is not a constant. */
function valuesAt(value: unknown, segments: string[]): unknown[] | undefined {
  let current: unknown[] = [value];
  for (const s of segments) {
    const next: unknown[] = [];
    for (const c of current) {
      for (const item of Array.isArray(c) ? c : [c]) {
        if (!isPlainObject(item) || hasDirective(item)) return undefined;
        const x = item[s];
        if (Array.isArray(x)) next.push(...x);
        else if (x !== undefined) next.push(x);
      }
    }
    current = next;
  }
  return current.every(isConstant) ? current : undefined;
}

/** Keys other than `$when` (which may only leave the value out) make a value whose result is not as written. */
function hasDirective(v: Record<string, unknown>): boolean {
  return Object.keys(v).some((k) => k.startsWith('$') && k !== '$when');
}

/** A template value that yields itself: no directive (but `$when`, which only may leave it out) and no text
 *  template reading a column. */
function isConstant(v: unknown): boolean {
  if (typeof v === 'string') return constantText(v) !== undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return true;
  if (Array.isArray(v)) return v.every(isConstant);
  if (isPlainObject(v)) return Object.entries(v).every(([k, x]) => k === '$when' || (!k.startsWith('$') && isConstant(x)));
  return false;
}

function constantText(v: string): string | undefined {
  const tpl = parseTemplate(v);
  return typeof tpl === 'string' ? undefined : tpl.constant;
}

function checkPattern(profile: Profile, def: ElementDef, v: unknown, path: Path, element: string, report: Report): void {
  for (const { value, at } of alternatives(v, path)) {
    if (matches(value, def.pattern)) continue;
    report({
      path: at,
      message: `${element}: profile ${profile.label} fixes ${def.id} to ${JSON.stringify(def.pattern)}, which this constant value cannot match`,
    });
  }
}

/** The values an element may get from a template value, each where it is written: a repeating element's
 *  items (its pattern holds for each), and every branch of `$if` / `$first` (each is wrong on the rows that
 *  take it). */
function alternatives(v: unknown, path: Path): Array<{ value: unknown; at: Path }> {
  if (Array.isArray(v)) return v.flatMap((x, i) => alternatives(x, [...path, i]));
  if (isPlainObject(v)) {
    if ('$literal' in v) return [{ value: v.$literal, at: [...path, '$literal'] }];
    if ('$if' in v)
      return [
        ...(v.$then !== undefined ? alternatives(v.$then, [...path, '$then']) : []),
        ...(v.$else !== undefined ? alternatives(v.$else, [...path, '$else']) : []),
      ];
    if ('$first' in v && Array.isArray(v.$first)) return v.$first.flatMap((x, i) => alternatives(x, [...path, '$first', i]));
  }
  return [{ value: v, at: path }];
}

/**
 * Can a template value yield a value matching `pattern` (the pattern's content, at least)? false only when
 * it certainly cannot: a different constant, or an object or array that lacks what the pattern has.
 * Directives and column templates may yield anything: true.
 */
function matches(v: unknown, pattern: unknown): boolean {
  if (isPlainObject(v)) {
    if ('$literal' in v) return matches(v.$literal, pattern);
    if ('$if' in v) return (v.$then !== undefined && matches(v.$then, pattern)) || (v.$else !== undefined && matches(v.$else, pattern));
    if ('$first' in v && Array.isArray(v.$first)) return v.$first.some((x) => matches(x, pattern));
    if (hasDirective(v)) return true;
  }
  if (Array.isArray(pattern)) {
    const items = Array.isArray(v) ? v : [v];
    // an item made by a directive ($each, $if ...) may be anything, so may match any pattern item
    if (items.some((x) => isPlainObject(x) && hasDirective(x))) return true;
    return pattern.every((p) => items.some((x) => matches(x, p)));
  }
  if (isPlainObject(pattern)) {
    if (Array.isArray(v) || !isPlainObject(v)) return typeof v === 'string' && constantText(v) === undefined;
    return Object.entries(pattern).every(([k, p]) => k in v && matches(v[k], p));
  }
  // a primitive pattern
  if (typeof v === 'string') {
    const text = constantText(v);
    return text === undefined || text === String(pattern);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v) === String(pattern);
  return true;
}
