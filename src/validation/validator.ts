// The profile validator: walks a resource against a compiled profile tree (compile.ts). No FHIRPath runs
// per resource except the profiles' invariants; everything else is a property read, a Map lookup or a
// regex on precomputed element nodes.
import { type ElementNode, type Leaf, type Slot, type Structure, StructureCompiler, type TypeInfo } from './compile.js';
import { type Conformance, type ConformanceOptions, loadConformance } from './conformance.js';
import type { Invariant } from './invariants.js';
import type { MustSupportCoverage } from './must-support.js';
import { Primitives } from './primitives.js';
import { referenceType } from './reference-type.js';
import { Terminology } from './terminology.js';
import type { IssueCode, IssueSeverity, ValidationIssue, Validator } from './types.js';
import { deepEqual, matchesPattern } from './values.js';

interface Ctx {
  issues: ValidationIssue[];
  /** the FHIRPath of the value being checked, as pieces (`Patient`, `.name`, 0, `.ofType(Quantity)`): joined
   *  only when an issue is recorded, so that valid data allocates no path strings */
  segs: Array<string | number>;
  profile: string;
  resource: unknown;
  /** must-support coverage: the stamp put on each must-support node met (ElementNode.seenMark), 0 for none */
  mark: number;
}

type Json = Record<string, unknown>;

const CODE_TYPES = new Set(['code', 'string', 'uri', 'url', 'canonical']);

export class ProfileValidator implements Validator {
  readonly compiler: StructureCompiler;
  readonly terminology: Terminology;
  private readonly primitives: Primitives;
  /** invariants that threw while running: key → message (reported once per process in summaries) */
  readonly invariantFailures = new Map<string, string>();
  /** the last must-support stamp handed out (see Ctx.mark) */
  private marks = 0;

  constructor(readonly conformance: Conformance) {
    this.terminology = new Terminology(conformance);
    this.compiler = new StructureCompiler(conformance, this.terminology);
    this.primitives = new Primitives(conformance);
  }

  /** The compiled profile (or base type) for a canonical URL, or undefined when it is not loaded. */
  structure(url: string): Structure | undefined {
    return this.compiler.structure(url);
  }

  /** The profiles `validate` would check a resource against without an explicit profile. */
  profilesOf(resource: unknown): { structures: Structure[]; unknown: string[] } {
    const rt = (resource as { resourceType?: unknown } | null)?.resourceType;
    const base = typeof rt === 'string' ? this.compiler.base(rt) : undefined;
    const declared = (resource as { meta?: { profile?: unknown } } | null)?.meta?.profile;
    const structures: Structure[] = [];
    const unknown: string[] = [];
    if (Array.isArray(declared)) {
      for (const url of declared) {
        if (typeof url !== 'string') continue;
        const s = this.compiler.structure(url);
        if (s && !structures.includes(s)) structures.push(s);
        else if (!s) unknown.push(url);
      }
    }
    if (structures.length === 0 && base?.kind === 'resource') structures.push(base);
    return { structures, unknown };
  }

  /** profilesOf's commonest case (one declared profile, loaded), without its arrays; else undefined. */
  private declaredProfile(resource: unknown): Structure[] | undefined {
    const declared = (resource as { meta?: { profile?: unknown } }).meta?.profile;
    if (!Array.isArray(declared) || declared.length !== 1 || typeof declared[0] !== 'string') return undefined;
    const s = this.compiler.structure(declared[0]);
    return s ? [s] : undefined;
  }

  validate(resource: unknown, profileUrl?: string, coverage?: MustSupportCoverage): ValidationIssue[] {
    const issues: ValidationIssue[] = [];
    const rt = (resource as { resourceType?: unknown } | null)?.resourceType;
    const base = typeof rt === 'string' ? this.compiler.base(rt) : undefined;
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource) || base?.kind !== 'resource') {
      const what = typeof rt === 'string' ? `unknown resourceType ${JSON.stringify(rt)}` : 'not a FHIR resource (no resourceType)';
      issues.push({ severity: 'error', code: 'structure', expression: typeof rt === 'string' ? rt : '', message: what, profile: '' });
      return issues;
    }
    let structures: Structure[] | undefined;
    if (profileUrl !== undefined) {
      const s = this.compiler.structure(profileUrl);
      if (s) structures = [s];
      else {
        issues.push(unknownProfile(profileUrl, rt as string));
        structures = [base];
      }
    } else {
      structures = this.declaredProfile(resource);
      if (!structures) {
        const found = this.profilesOf(resource);
        for (const url of found.unknown) issues.push(unknownProfile(url, rt as string));
        structures = found.structures;
      }
    }
    for (const structure of structures) {
      // a fresh stamp per resource and profile: no set of element ids built and dropped per resource
      const mark = coverage ? ++this.marks : 0;
      const ctx: Ctx = { issues, profile: structure.url, resource, mark, segs: [rt as string] };
      if (structure.type !== rt) {
        this.issue(
          ctx,
          'error',
          'structure',
          '',
          `resourceType ${String(rt)} does not match profile ${structure.url} (for ${structure.type})`,
        );
        continue;
      }
      this.checkResource(structure, resource as Json, ctx);
      if (coverage) coverage.record(structure, mark);
    }
    return structures.length > 1 ? dedupe(issues) : issues;
  }

  private checkResource(structure: Structure, resource: Json, ctx: Ctx): void {
    this.checkContent(structure.root, resource, ctx, true);
    this.runInvariants(structure.root.invariants, structure.root, resource, ctx);
  }

  /** The properties of one JSON object against the element nodes `content` lists. */
  private checkContent(content: ElementNode, obj: unknown, ctx: Ctx, isResource: boolean): void {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      this.issue(ctx, 'error', 'structure', '', `expected an object, found ${describe(obj)}`, content.id);
      return;
    }
    const o = obj as Json;
    let keyCount = 0;
    let choices: ElementNode[] | undefined;
    let unknown = false;
    const keys = content.keys;
    // `_name` keys (a primitive's extensions) are rare: when the object has none, no key looks up its pair
    // (a lookup of an absent property, the costliest read here).
    let pairs = false;
    for (const key in o) {
      if (key.charCodeAt(0) === 95) {
        pairs = true;
        break;
      }
    }
    // One pass over the object's own keys (a handful) rather than over the definition's children (dozens).
    for (const key in o) {
      if (isResource && key === 'resourceType') continue;
      const value = o[key];
      // JSON has no undefined; objects built in JS may (`{ ...r, x: undefined }` means "no x").
      if (value === undefined) continue;
      keyCount++;
      const slot = keys.get(key);
      if (!slot) {
        unknown = true;
        continue;
      }
      const pairValue = pairs ? o[slot.pair] : undefined;
      // `name` and `_name` are checked together, once (from `name`, or from `_name` when alone).
      if (slot.ext && pairValue !== undefined) continue;
      const node = slot.node;
      if (node.choice) {
        choices ??= [];
        if (choices.includes(node)) {
          this.issue(ctx, 'error', 'structure', `.${node.name}`, `only one type of ${node.name}[x] is allowed`, node.id);
          continue;
        }
        choices.push(node);
      }
      if (slot.ext) this.checkElement(node, slot.type, undefined, value, ctx);
      else if (pairValue === undefined && typeof value !== 'object') {
        // Most values are lone primitives (a code, a string, a date): checked here, without the general
        // path's array, slice and extension handling, which cannot apply to them.
        const leaf = slot.leaf === undefined ? this.leafOf(slot) : slot.leaf;
        if (leaf) this.checkLeaf(node, slot.type, value, ctx, leaf);
        else this.checkElement(node, slot.type, value, pairValue, ctx);
      } else this.checkElement(node, slot.type, value, pairValue, ctx);
    }
    if (keyCount === 0) {
      this.issue(ctx, 'error', 'structure', '', 'empty object: an element must have a value or children', content.id);
      return;
    }
    for (const child of content.required) {
      if (child.choice) {
        if (choices?.includes(child)) continue;
      } else if (o[child.name] !== undefined || o[`_${child.name}`] !== undefined) continue;
      this.issue(
        ctx,
        'error',
        'required',
        `.${child.name}`,
        `missing required element ${child.name}${child.choice ? '[x]' : ''} (min ${child.min})`,
        child.id,
      );
    }
    if (unknown) this.reportUnknown(content, o, ctx, isResource);
  }

  private reportUnknown(content: ElementNode, o: Json, ctx: Ctx, isResource: boolean): void {
    for (const key of Object.keys(o)) {
      if (isResource && key === 'resourceType') continue;
      const bare = key.startsWith('_') ? key.slice(1) : key;
      if (content.keys.has(key)) continue;
      const choice = content.children.find((c) => c.choice && bare.startsWith(c.name) && /^[A-Z]/.test(bare.slice(c.name.length)));
      const message = choice
        ? `${bare.slice(choice.name.length)} is not an allowed type for ${choice.name}[x] (allowed: ${choice.types.map((t) => t.code).join(', ')})`
        : `unknown element ${JSON.stringify(key)}`;
      this.issue(ctx, 'error', 'structure', `.${key}`, message, choice?.id ?? content.id);
    }
  }

  /** The short path for a slot's lone primitive values, or null when its values need the general one. */
  private leafOf(slot: Slot): Leaf | null {
    const { node, type } = slot;
    let leaf: Leaf | null = null;
    if (!slot.ext && !node.array && !node.slicing && !node.typeSlices && node.max > 0) {
      if (type.primitive === undefined) type.primitive = this.primitives.check(type.code) ?? null;
      if (type.primitive) {
        type.invariants ??= this.compiler.invariants(node, type);
        const bare = node.fixed === undefined && node.pattern === undefined && !node.binding?.matcher && type.invariants.length === 0;
        leaf = { check: type.primitive, bare };
      }
    }
    slot.leaf = leaf;
    return leaf;
  }

  /** What checkElement → checkSingle → checkItem → checkPrimitive do for one non-null primitive value of
   *  an element that does not repeat and is not sliced (same checks, same issues, in the same order). */
  private checkLeaf(node: ElementNode, type: TypeInfo, value: unknown, ctx: Ctx, leaf: Leaf): void {
    if (ctx.mark !== 0 && node.mustSupport) node.seenMark = ctx.mark;
    if (leaf.bare && leaf.check(value) === undefined) return;
    const segs = ctx.segs;
    segs.push(node.dotName);
    if (node.choice) segs.push(type.ofType);
    this.checkPrimitive(node, type, value, ctx, leaf.check);
    if (node.choice) segs.pop();
    segs.pop();
  }

  private checkElement(node: ElementNode, type: TypeInfo, value: unknown, ext: unknown, ctx: Ctx): void {
    const segs = ctx.segs;
    segs.push(node.dotName);
    try {
      this.checkValues(node, type, value, ext, ctx);
    } finally {
      segs.pop();
    }
  }

  /** The value(s) of one element; ctx.segs ends with the element's name. */
  private checkValues(node: ElementNode, type: TypeInfo, value: unknown, ext: unknown, ctx: Ctx): void {
    let items: unknown[];
    let extItems: unknown[] | undefined;
    if (node.array) {
      if ((value !== undefined && !Array.isArray(value)) || (ext !== undefined && ext !== null && !Array.isArray(ext))) {
        this.issue(ctx, 'error', 'structure', '', `${node.name} repeats: it must be a JSON array`, node.id);
        return;
      }
      items = (value as unknown[] | undefined) ?? [];
      extItems = ext as unknown[] | undefined;
    } else {
      if (Array.isArray(value) || Array.isArray(ext)) {
        this.issue(ctx, 'error', 'structure', '', `${node.name} does not repeat: it must not be a JSON array`, node.id);
        return;
      }
      // Most elements hold one value and are not sliced: no arrays built for them.
      if (!node.slicing || node.typeSlices) {
        this.checkSingle(node, type, value, ext, ctx);
        return;
      }
      items = value === undefined ? [] : [value];
      extItems = ext === undefined ? undefined : [ext];
    }
    const n = Math.max(items.length, extItems?.length ?? 0);
    if (n === 0) {
      this.issue(ctx, 'error', 'structure', '', 'empty array: leave the element out instead', node.id);
      return;
    }
    if (n < node.min)
      this.issue(ctx, 'error', 'required', '', `${node.name} has ${n} value(s), the profile requires at least ${node.min}`, node.id);
    if (n > node.max) {
      const message =
        node.max === 0
          ? `${node.name} is not allowed by the profile`
          : `${node.name} has ${n} values, the profile allows at most ${node.max}`;
      this.issue(ctx, 'error', 'structure', '', message, node.id);
    }
    if (ctx.mark !== 0 && node.mustSupport) node.seenMark = ctx.mark;

    let itemNodes: Array<ElementNode | undefined> | undefined;
    // a choice sliced by type: every item is of the one type, so in the one slice
    let typeSlice: ElementNode | undefined;
    if (node.typeSlices) {
      typeSlice = node.typeSlices.get(type.code);
      if (typeSlice && ctx.mark !== 0 && typeSlice.mustSupport) typeSlice.seenMark = ctx.mark;
    } else if (node.slicing && node.slices.length > 0) {
      itemNodes = this.assignSlices(node, items, ctx);
    }
    const segs = ctx.segs;
    for (let i = 0; i < n; i++) {
      const itemNode = typeSlice ?? itemNodes?.[i] ?? node;
      // A slice has its own types (an extension slice's profile); cached content belongs to the node's own type.
      const itemType = itemNode === node ? type : (itemNode.types.find((t) => t.code === type.code) ?? itemNode.types[0] ?? type);
      if (node.array) segs.push(i);
      if (node.choice) segs.push(type.ofType);
      this.checkItem(itemNode, itemType, items[i], extItems?.[i], ctx);
      if (node.choice) segs.pop();
      if (node.array) segs.pop();
    }
  }

  /** An element that does not repeat and is not sliced (choice elements sliced by type included). */
  private checkSingle(node: ElementNode, type: TypeInfo, value: unknown, ext: unknown, ctx: Ctx): void {
    if (node.max === 0) this.issue(ctx, 'error', 'structure', '', `${node.name} is not allowed by the profile`, node.id);
    if (ctx.mark !== 0 && node.mustSupport) node.seenMark = ctx.mark;
    let itemNode = node;
    let itemType = type;
    const slice = node.typeSlices?.get(type.code);
    if (slice) {
      if (ctx.mark !== 0 && slice.mustSupport) slice.seenMark = ctx.mark;
      itemNode = slice;
      itemType = slice.types.find((t) => t.code === type.code) ?? slice.types[0] ?? type;
    }
    if (node.choice) {
      ctx.segs.push(type.ofType);
      this.checkItem(itemNode, itemType, value, ext, ctx);
      ctx.segs.pop();
    } else this.checkItem(itemNode, itemType, value, ext, ctx);
  }

  /** Which slice each item belongs to, with the slices' cardinality and closed-slicing checks. */
  private assignSlices(node: ElementNode, items: unknown[], ctx: Ctx): Array<ElementNode | undefined> {
    const slicing = node.slicing!;
    const counts = new Map<ElementNode, number>();
    const out = items.map((item, i) => {
      const slice = slicing.match(item);
      if (slice) counts.set(slice, (counts.get(slice) ?? 0) + 1);
      else if (slicing.rules === 'closed' && slicing.decidable.size === node.slices.length) {
        this.issue(
          ctx,
          'error',
          'structure',
          node.array ? `[${i}]` : '',
          `matches none of the slices of ${node.name} (${node.slices.map((s) => s.sliceName).join(', ')}), and the slicing is closed`,
          node.id,
        );
      }
      return slice;
    });
    for (const slice of slicing.decidable) {
      const count = counts.get(slice) ?? 0;
      if (count < slice.min) {
        this.issue(
          ctx,
          'error',
          'required',
          '',
          `slice ${slice.sliceName} of ${node.name}: found ${count}, the profile requires at least ${slice.min}`,
          slice.id,
        );
      } else if (count > slice.max) {
        this.issue(
          ctx,
          'error',
          'structure',
          '',
          `slice ${slice.sliceName} of ${node.name}: found ${count}, the profile allows at most ${slice.max}`,
          slice.id,
        );
      }
      if (count > 0 && ctx.mark !== 0 && slice.mustSupport) slice.seenMark = ctx.mark;
    }
    return out;
  }

  private checkItem(node: ElementNode, type: TypeInfo, item: unknown, extItem: unknown, ctx: Ctx): void {
    if (extItem !== undefined && extItem !== null) this.checkContent(this.elementRoot(), extItem, ctx, false);
    if (item === null || item === undefined) {
      if (extItem === undefined || extItem === null)
        this.issue(ctx, 'error', 'structure', '', 'null is not a value (leave the element out)', node.id);
      return;
    }
    if (type.primitive === undefined) type.primitive = this.primitives.check(type.code) ?? null;
    const primitive = type.primitive;
    if (primitive) {
      this.checkPrimitive(node, type, item, ctx, primitive);
      return;
    }
    if (typeof item !== 'object' || Array.isArray(item)) {
      this.issue(ctx, 'error', 'structure', '', `expected a ${type.code} object, found ${describe(item)}`, node.id);
      return;
    }
    const o = item as Json;
    type.resource ??= type.code === 'Resource' || this.compiler.base(type.code)?.kind === 'resource';
    if (type.resource) {
      this.checkContained(o, ctx);
      return;
    }
    if (type.content === undefined) type.content = this.compiler.content(node, type) ?? null;
    let content = type.content;
    if (type.code === 'Extension' && !type.profile && node.children.length === 0 && typeof o.url === 'string') {
      // An extension no slice describes is checked against its definition when that is loaded.
      const defined = this.compiler.structure(o.url);
      if (defined?.type === 'Extension') content = defined.root;
    }
    if (content) this.checkContent(content, o, ctx, false);
    if (type.code === 'Extension') {
      let hasValue = false;
      for (const k in o) if (k.startsWith('value')) hasValue = true;
      const hasExtensions = Array.isArray(o.extension) && o.extension.length > 0;
      if (hasValue === hasExtensions) {
        const message = hasValue
          ? 'an extension must have a value or nested extensions, not both'
          : 'an extension must have a value or nested extensions';
        this.issue(ctx, 'error', 'invariant', '', `ext-1: ${message}`, node.id, 'ext-1');
      }
    }
    if (node.fixed !== undefined && !deepEqual(o, node.fixed)) {
      this.issue(ctx, 'error', 'value', '', `must be exactly ${JSON.stringify(node.fixed)}`, node.id);
    }
    if (node.pattern !== undefined && !matchesPattern(o, node.pattern)) {
      this.issue(ctx, 'error', 'value', '', `must match the pattern ${JSON.stringify(node.pattern)}`, node.id);
    }
    if (node.binding?.matcher) this.checkCodedBinding(node, type, o, ctx);
    if (type.targetTypes && type.code === 'Reference') this.checkReference(node, type, o, ctx);
    type.invariants ??= this.compiler.invariants(node, type);
    if (type.invariants.length > 0) this.runInvariants(type.invariants, node, o, ctx, type.code);
  }

  private checkPrimitive(node: ElementNode, type: TypeInfo, item: unknown, ctx: Ctx, check: (v: unknown) => string | undefined): void {
    const problem = check(item);
    if (problem) {
      this.issue(ctx, 'error', 'value', '', problem, node.id);
      return;
    }
    const expected = node.fixed ?? node.pattern;
    if (expected !== undefined && item !== expected) {
      this.issue(ctx, 'error', 'value', '', `must be ${JSON.stringify(expected)}, found ${JSON.stringify(item)}`, node.id);
    }
    const binding = node.binding;
    if (binding?.matcher && CODE_TYPES.has(type.code) && !binding.matcher.hasCode(item)) {
      this.bindingIssue(node, ctx, `${JSON.stringify(item)} is not in the value set ${binding.valueSet}`);
    }
    type.invariants ??= this.compiler.invariants(node, type);
    if (type.invariants.length > 0) this.runInvariants(type.invariants, node, item, ctx, type.code);
  }

  private checkCodedBinding(node: ElementNode, type: TypeInfo, o: Json, ctx: Ctx): void {
    const binding = node.binding!;
    const matcher = binding.matcher!;
    if (type.code === 'CodeableConcept') {
      const codings = Array.isArray(o.coding) ? (o.coding as Json[]) : [];
      if (codings.some((c) => matcher.hasCoding(c?.system, c?.code))) return;
      const found = codings.map((c) => `${String(c?.system)}#${String(c?.code)}`).join(', ');
      this.bindingIssue(
        node,
        ctx,
        codings.length
          ? `none of the codings (${found}) is in the value set ${binding.valueSet}`
          : `no coding from the value set ${binding.valueSet}`,
      );
    } else if (type.code === 'Coding' || type.code === 'Quantity') {
      if (type.code === 'Quantity' && o.code === undefined && o.system === undefined) return;
      if (!matcher.hasCoding(o.system, o.code)) {
        this.bindingIssue(node, ctx, `${String(o.system)}#${String(o.code)} is not in the value set ${binding.valueSet}`);
      }
    }
  }

  private bindingIssue(node: ElementNode, ctx: Ctx, message: string): void {
    const strength = node.binding!.strength;
    this.issue(ctx, strength === 'required' ? 'error' : 'warning', 'code-invalid', '', `${message} (${strength} binding)`, node.id);
  }

  private checkReference(node: ElementNode, type: TypeInfo, o: Json, ctx: Ctx): void {
    const allowed = type.targetTypes!;
    const ref = o.reference;
    let target: string | undefined;
    if (typeof ref === 'string') {
      if (ref.startsWith('#') || ref.startsWith('urn:')) target = undefined;
      else target = referenceType(ref);
    }
    const declared = typeof o.type === 'string' ? o.type : undefined;
    const wrong =
      target !== undefined && !allowed.has(target) ? target : declared !== undefined && !allowed.has(declared) ? declared : undefined;
    if (wrong !== undefined) {
      this.issue(
        ctx,
        'error',
        'structure',
        '.reference',
        `reference to a ${wrong}, the profile allows ${[...allowed].join(' | ')}`,
        node.id,
      );
    }
  }

  /** A resource inside another (contained, Bundle.entry.resource): checked against its base definition. */
  private checkContained(o: Json, ctx: Ctx): void {
    const rt = o.resourceType;
    const base = typeof rt === 'string' ? this.compiler.base(rt) : undefined;
    if (base?.kind !== 'resource') {
      this.issue(ctx, 'error', 'structure', '', `unknown resourceType ${JSON.stringify(rt)}`);
      return;
    }
    const inner: Ctx = { issues: ctx.issues, profile: ctx.profile, resource: o, mark: 0, segs: ctx.segs };
    this.checkResource(base, o, inner);
  }

  private runInvariants(invariants: Invariant[], node: ElementNode, value: unknown, ctx: Ctx, contextType?: string): void {
    for (const inv of invariants) {
      let holds: boolean;
      try {
        holds = inv.holds(value, ctx.resource, this.memberOf, contextType);
      } catch (e) {
        // A constraint fhirpath.js cannot run on this data is not the data's fault: not reported per resource.
        this.invariantFailures.set(inv.key, (e as Error).message);
        continue;
      }
      if (!holds) this.issue(ctx, 'error', 'invariant', '', `${inv.key}: ${inv.human}`, node.id, inv.key);
    }
  }

  /** memberOf() for invariants: undefined when the value set cannot be expanded here. */
  private readonly memberOf = (url: string, value: unknown): boolean | undefined => {
    const m = this.terminology.valueSet(url);
    if (!m) return undefined;
    if (typeof value === 'string') return m.hasCode(value);
    const o = value as Json | null;
    if (!o || typeof o !== 'object') return false;
    if (Array.isArray(o.coding)) return (o.coding as Json[]).some((c) => m.hasCoding(c?.system, c?.code));
    return m.hasCoding(o.system, o.code);
  };

  private elementRootNode: ElementNode | undefined;
  private elementRoot(): ElementNode {
    this.elementRootNode ??= this.compiler.base('Element')!.root;
    return this.elementRootNode;
  }

  /** Records an issue at the current path (ctx.segs) followed by `suffix` (`.reference`, `[2]`). */
  private issue(ctx: Ctx, severity: IssueSeverity, code: IssueCode, suffix: string, message: string, element?: string, key?: string): void {
    let expression = '';
    for (const seg of ctx.segs) expression += typeof seg === 'number' ? `[${seg}]` : seg;
    const issue: ValidationIssue = { severity, code, expression: expression + suffix, message, profile: ctx.profile };
    if (element !== undefined) issue.element = element;
    if (key !== undefined) issue.key = key;
    ctx.issues.push(issue);
  }
}

function unknownProfile(url: string, resourceType: string): ValidationIssue {
  return {
    severity: 'warning',
    code: 'not-supported',
    expression: resourceType,
    message: `profile ${url} is not loaded: checked against the base ${resourceType} definition`,
    profile: url,
  };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'string'
    ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
    : `${typeof v} ${JSON.stringify(v)}`;
}

function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.severity}\u0000${i.expression}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A validator over the shipped packages (or `options.packages`) and the R4 base definitions. */
export async function createValidator(options: ConformanceOptions = {}): Promise<ProfileValidator> {
  return new ProfileValidator(await loadConformance(options));
}
