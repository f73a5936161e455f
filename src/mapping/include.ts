// `$include` / `$with` (and a mapping's `extends:` / `with:`): pulls named fragments from a fragment file
// into a mapping document before it is compiled, so that mappings sharing most of their lines (the CMS
// institutional claims) hold only what differs. Expansion keeps, for every node of the expanded value, the
// file and YAML path it was written at, so a compile error inside a fragment names the fragment's
// file:line:column and the place that included it. See mappings/README.md, "Reuse".
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { MappingError, type SourceLocation } from '../errors.js';
import { isPlainObject } from './lookups.js';
import { parseYamlFile, type ParsedDocument, type Path, type PathSegment } from './parse.js';
import { fragmentSchemaErrors } from './schema.js';

/** A file that holds fragments is named `_<name>.yaml`, so the set loader never takes it for a mapping. */
export function isFragmentFile(file: string): boolean {
  return basename(file).startsWith('_');
}

/** `<fragment file>#<name>` (mappings and connector files alike); `file` is '' for `#name` (the same file). */
export function parseIncludeRef(ref: string): { file: string; name: string } | undefined {
  const m = /^([^#]*)#([A-Za-z0-9_.-]+)$/.exec(ref.trim());
  return m ? { file: m[1]!, name: m[2]! } : undefined;
}

/** Where a node of the expanded value was written: a source (mapping or fragment) and a path in it. */
interface Origin {
  file: string;
  /** the position in the source file, with `includedFrom` set for fragments */
  locate(path: Path, key?: boolean): SourceLocation;
}
interface Site {
  origin: Origin;
  path: Path;
}

/** A parameter given by `$with`, expanded where it was written. */
interface Param {
  value: unknown;
  site: Site;
  used: boolean;
}
type Params = Map<string, Param>;

interface FragmentFile {
  fragments: Record<string, unknown>;
  doc: ParsedDocument;
}

// `$(name)` cannot collide with `{COLUMN}` templates, FHIRPath (`$this`), SQL or a connector's `${VAR}`.
const PARAM_RE = /\$\$\(|\$\(([^()]*)\)/g;
const WHOLE_PARAM_RE = /^\$\(([^()]*)\)$/;
const NAME_RE = /^[A-Za-z_][\w-]*$/;

/** True when the document uses `$include` or `extends:` anywhere (others are compiled untouched). */
function usesIncludes(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(usesIncludes);
  if (!isPlainObject(value)) return false;
  for (const k in value) if (k === '$include' || usesIncludes(value[k])) return true;
  return 'extends' in value;
}

/**
 * Expands every `$include` of the mapping documents of one set. Fragment files are read once per
 * Includer (synchronously, like shared lookups, since compiling a set is synchronous).
 */
export class Includer {
  private readonly files = new Map<string, FragmentFile | MappingError[]>();
  /** children's sites per container of expanded values */
  private readonly sites = new WeakMap<object, Map<PathSegment, Site>>();

  constructor(private readonly read: (file: string) => string = (f) => readFileSync(f, 'utf8')) {}

  /** The document with its includes expanded, located through the sources; errors of the expansion. */
  expand(doc: ParsedDocument, file: string): { doc: ParsedDocument; errors: MappingError[] } {
    if (!usesIncludes(doc.value)) return { doc, errors: [] };
    const errors: MappingError[] = [];
    const origin: Origin = { file, locate: (p, k) => doc.locate(p, k) };
    const rootSite: Site = { origin, path: [] };
    const [value] = this.value(doc.value, rootSite, undefined, [], errors, true);
    const sites = this.sites;
    return {
      errors,
      doc: {
        value,
        location: doc.location,
        locate(path, key) {
          let node: unknown = value;
          let site = rootSite;
          for (let i = 0; i < path.length; i++) {
            const next = typeof node === 'object' && node !== null ? sites.get(node)?.get(path[i]!) : undefined;
            // A path past what the expanded value has (an error about a missing key) points where its
            // deepest existing node was written.
            if (!next) return site.origin.locate([...site.path, ...path.slice(i)], key);
            site = next;
            node = (node as Record<PathSegment, unknown>)[path[i]!];
          }
          return site.origin.locate(site.path, key);
        },
      },
    };
  }

  /** Expands one value written at `site`; returns it and the site to record for it. */
  private value(
    v: unknown,
    site: Site,
    params: Params | undefined,
    stack: string[],
    errors: MappingError[],
    root = false,
  ): [unknown, Site] {
    if (typeof v === 'string') return params ? this.substitute(v, site, params, errors) : [v, site];
    if (Array.isArray(v)) return [this.list(v, site, params, stack, errors), site];
    if (!isPlainObject(v)) return [v, site];
    const inc = root && 'extends' in v ? 'extends' : '$include';
    if (inc in v) return this.merge(v, site, params, stack, errors, inc, inc === 'extends' ? 'with' : '$with');
    const out: Record<string, unknown> = {};
    const childSites = new Map<PathSegment, Site>();
    for (const [k, x] of Object.entries(v)) {
      const name = params && k.includes('$(') ? this.text(k, site, params, errors, [...site.path, k]) : k;
      const [val, s] = this.value(x, { origin: site.origin, path: [...site.path, k] }, params, stack, errors);
      out[name] = val;
      childSites.set(name, s);
    }
    this.sites.set(out, childSites);
    return [out, site];
  }

  private list(items: unknown[], site: Site, params: Params | undefined, stack: string[], errors: MappingError[]): unknown[] {
    const out: unknown[] = [];
    const childSites = new Map<PathSegment, Site>();
    items.forEach((item, i) => {
      const itemSite: Site = { origin: site.origin, path: [...site.path, i] };
      const [val, s] = this.value(item, itemSite, params, stack, errors);
      // An item that is exactly an `$include` of a list, or a `$(param)` given a list, is spliced in.
      const splice =
        Array.isArray(val) && (isIncludeOnly(item) || (params !== undefined && typeof item === 'string' && WHOLE_PARAM_RE.test(item)));
      if (splice) {
        const inner = this.sites.get(val);
        val.forEach((x, j) => {
          childSites.set(out.length, inner?.get(j) ?? s);
          out.push(x);
        });
      } else {
        childSites.set(out.length, s);
        out.push(val);
      }
    });
    this.sites.set(out, childSites);
    return out;
  }

  /** `{ $include: ref, $with: {...}, ...overrides }`: the fragment, with the keys written beside it. */
  private merge(
    v: Record<string, unknown>,
    site: Site,
    params: Params | undefined,
    stack: string[],
    errors: MappingError[],
    inc: string,
    withKey: string,
  ): [unknown, Site] {
    const included = this.include(v, site, params, stack, errors, inc, withKey);
    const others = Object.keys(v).filter((k) => k !== inc && k !== withKey);
    if (others.length === 0) return included ?? [undefined, site];
    if (included && !isPlainObject(included[0])) {
      errors.push(
        new MappingError(
          `${inc}: fragment "${String(v[inc])}" is ${Array.isArray(included[0]) ? 'a list' : 'a value'}, so keys cannot be written beside it (only a map fragment merges with keys)`,
          site.origin.locate([...site.path, inc], true),
        ),
      );
      return [undefined, site];
    }
    const base = (included?.[0] ?? {}) as Record<string, unknown>;
    const baseSites = this.sites.get(base);
    const own = new Map<string, [unknown, Site]>();
    for (const k of others) own.set(k, this.value(v[k], { origin: site.origin, path: [...site.path, k] }, params, stack, errors));
    // Keys keep the order they are written in: the fragment's keys stand where `$include` is, a key written
    // beside it replaces the fragment's key of that name in place.
    const out: Record<string, unknown> = {};
    const childSites = new Map<PathSegment, Site>();
    const put = (k: string, [val, s]: [unknown, Site]) => {
      out[k] = val;
      childSites.set(k, s);
    };
    for (const k of Object.keys(v)) {
      if (k === withKey) continue;
      if (k === inc) {
        for (const [bk, bv] of Object.entries(base)) put(bk, own.get(bk) ?? [bv, baseSites?.get(bk) ?? site]);
      } else if (!(k in base)) put(k, own.get(k)!);
    }
    this.sites.set(out, childSites);
    return [out, site];
  }

  /** Resolves and expands the fragment `v[inc]` names, with `v[withKey]` as its parameters. */
  private include(
    v: Record<string, unknown>,
    site: Site,
    params: Params | undefined,
    stack: string[],
    errors: MappingError[],
    inc: string,
    withKey: string,
  ): [unknown, Site] | undefined {
    const at = (p: Path, key?: boolean) => site.origin.locate([...site.path, ...p], key);
    const fail = (p: Path, message: string, key?: boolean) => {
      errors.push(new MappingError(message, at(p, key)));
      return undefined;
    };
    let ref = v[inc];
    if (typeof ref === 'string' && params) ref = this.text(ref, site, params, errors, [...site.path, inc]);
    const m = typeof ref === 'string' ? parseIncludeRef(ref) : undefined;
    if (!m)
      return fail([inc], `${inc}: expected "<fragment file>#<name>", e.g. "_institutional.yaml#header" (the file relative to this one)`);
    const file = m.file ? resolve(dirname(site.origin.file), m.file) : site.origin.file;
    if (!isFragmentFile(file))
      return fail([inc], `${inc}: ${file} is not a fragment file: fragment files are named _<name>.yaml and hold "fragments:"`);
    const key = `${file}#${m.name}`;
    if (stack.includes(key)) return fail([inc], `${inc} cycle: ${[...stack, key].map(short).join(' → ')}`);
    const loaded = this.load(file);
    if (Array.isArray(loaded)) {
      // The fragment file itself is broken: report its own errors once per including place.
      for (const e of loaded) errors.push(new MappingError(e.detail, { ...e.location!, includedFrom: at([inc], true) }));
      return undefined;
    }
    const name = m.name;
    if (!Object.hasOwn(loaded.fragments, name)) {
      const known = Object.keys(loaded.fragments);
      return fail([inc], `unknown fragment "${name}" in ${file}: expected one of ${known.join(', ') || '(none)'}`);
    }
    // A fragment's own `$include`s see its parameters too; what `$with` gives here comes on top.
    const given: Params = new Map(params);
    const own = new Set<string>();
    const w = v[withKey];
    if (w !== undefined && w !== null) {
      if (!isPlainObject(w)) return fail([withKey], `${withKey}: expected a map of parameter name → value`);
      for (const [k, x] of Object.entries(w)) {
        if (!NAME_RE.test(k)) {
          fail([withKey, k], `${withKey}: parameter name "${k}" must be letters, digits, "_" or "-"`, true);
          continue;
        }
        const [val, s] = this.value(x, { origin: site.origin, path: [...site.path, withKey, k] }, params, stack, errors);
        given.set(k, { value: val, site: s, used: false });
        own.add(k);
      }
    }
    const includedFrom = at([inc], true);
    const fragmentOrigin: Origin = { file, locate: (p, k) => ({ ...loaded.doc.locate(p, k), includedFrom }) };
    const fragmentSite: Site = { origin: fragmentOrigin, path: ['fragments', name] };
    const result = this.value(loaded.fragments[name], fragmentSite, given, [...stack, key], errors);
    for (const [k, p] of given) {
      if (own.has(k) && !p.used) fail([withKey, k], `${withKey}: fragment "${name}" has no parameter $(${k})`, true);
    }
    return result;
  }

  private load(file: string): FragmentFile | MappingError[] {
    const cached = this.files.get(file);
    if (cached) return cached;
    let result: FragmentFile | MappingError[];
    let text: string | undefined;
    try {
      text = this.read(file);
    } catch (e) {
      result = [new MappingError(`cannot read fragment file: ${(e as Error).message}`, { file, line: 1, column: 1 })];
    }
    if (text !== undefined) {
      const parsed = parseYamlFile(text, file);
      const doc = parsed.documents[0];
      if (parsed.errors.length > 0) result = parsed.errors;
      else if (!doc || parsed.documents.length > 1)
        result = [
          new MappingError(
            'a fragment file holds one YAML document: { fragments: { <name>: <value>, ... } }',
            doc?.location ?? { file, line: 1, column: 1 },
          ),
        ];
      else {
        const schema = fragmentSchemaErrors(doc);
        result = schema.length > 0 ? schema : { doc, fragments: (doc.value as { fragments: Record<string, unknown> }).fragments };
      }
    }
    this.files.set(file, result!);
    return result!;
  }

  /** `$(name)` in a string of a fragment: a whole-value parameter keeps its type, others become text. */
  private substitute(text: string, site: Site, params: Params, errors: MappingError[]): [unknown, Site] {
    const whole = WHOLE_PARAM_RE.exec(text);
    if (whole) {
      const p = this.param(whole[1]!, site, params, errors, site.path);
      return p ? [p.value, p.site] : [undefined, site];
    }
    return [this.text(text, site, params, errors, site.path), site];
  }

  private text(text: string, site: Site, params: Params, errors: MappingError[], path: Path): string {
    if (!text.includes('$(')) return text;
    return text.replace(PARAM_RE, (whole, name: string | undefined) => {
      if (name === undefined) return '$('; // `$$(` is a literal `$(`
      const p = this.param(name, site, params, errors, path);
      if (!p) return whole;
      if (typeof p.value === 'object' && p.value !== null) {
        errors.push(
          new MappingError(
            `$(${name}) is inside text, so its value must be a string, number or boolean (it is ${Array.isArray(p.value) ? 'a list' : 'a map'})`,
            site.origin.locate(path),
          ),
        );
        return whole;
      }
      return p.value === undefined || p.value === null ? '' : String(p.value);
    });
  }

  private param(name: string, site: Site, params: Params, errors: MappingError[], path: Path): Param | undefined {
    const p = params.get(name.trim());
    if (!p) {
      const known = [...params.keys()];
      errors.push(
        new MappingError(
          `unknown parameter $(${name}): ${known.length ? `$with gives ${known.join(', ')}` : 'the $include gives no $with'}`,
          site.origin.locate(path),
        ),
      );
      return undefined;
    }
    p.used = true;
    return p;
  }
}

function isIncludeOnly(item: unknown): boolean {
  return isPlainObject(item) && '$include' in item && Object.keys(item).every((k) => k === '$include' || k === '$with');
}

function short(key: string): string {
  const i = key.lastIndexOf('#');
  return `${basename(key.slice(0, i))}${key.slice(i)}`;
}
