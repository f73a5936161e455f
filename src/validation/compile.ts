// StructureDefinition snapshot → a tree of element nodes with everything a check needs precomputed (JSON
// keys including choice-type keys, cardinality, fixed/pattern values, bindings, reference target types,
// compiled invariants, slices and their matchers). Built once per profile or type, on first use; an
// element whose snapshot has no children gets them from its type's (or type profile's) own tree, also
// compiled once and shared.
import type { Conformance, ElementDefinition, StructureDefinition } from './conformance.js';
import { compileInvariant, type Invariant } from './invariants.js';
import { compileSlicing, type Slicing } from './slicing.js';
import type { ValueSetMatcher, Terminology } from './terminology.js';

export interface TypeInfo {
  /** FHIR type code: `string`, `Quantity`, `Reference`, `Patient`… (FHIRPath system types mapped to FHIR) */
  code: string;
  /** the type's profile (an extension definition, SimpleQuantity…), first one only */
  profile?: string;
  /** Reference/canonical targets as resource type names; undefined when any resource is allowed */
  targetTypes?: ReadonlySet<string>;
  /** the JSON key suffix of a choice (`Quantity` in valueQuantity) */
  suffix: string;
  /** `.ofType(Quantity)`: the FHIRPath step of a choice's value */
  ofType: string;
  /** cached by the validator: the node describing a value's content (null: none), the primitive check */
  content?: ElementNode | null;
  primitive?: ((v: unknown) => string | undefined) | null;
  resource?: boolean;
  /** the element's own invariants plus its type's (per-1 lives on Period, not on each Period element) */
  invariants?: Invariant[];
}

export interface Binding {
  strength: 'required' | 'extensible' | 'preferred';
  valueSet: string;
  /** undefined when the value set cannot be expanded locally (not checked) */
  matcher: ValueSetMatcher | undefined;
}

export interface ElementNode {
  id: string;
  /** path without slice names (`Observation.component.code`) */
  path: string;
  /** JSON property name (choices without `[x]`: `value`) */
  name: string;
  /** `.name`, the FHIRPath step (kept to build paths without allocating) */
  dotName: string;
  choice: boolean;
  min: number;
  max: number;
  /** JSON array (the base element repeats, whatever the profile's max) */
  array: boolean;
  types: TypeInfo[];
  sliceName?: string;
  fixed?: unknown;
  pattern?: unknown;
  binding?: Binding;
  invariants: Invariant[];
  mustSupport: boolean;
  /** children from the snapshot, when it lists them */
  children: ElementNode[];
  /** JSON key → element and type (choices have one key per type; `_key` for primitives' extensions) */
  keys: Map<string, Slot>;
  /** children with min ≥ 1 (checked when absent) */
  required: ElementNode[];
  contentReference?: string;
  slicing?: Slicing;
  /** slice nodes, when this element is sliced */
  slices: ElementNode[];
  /** choice elements sliced by type: type code → slice */
  typeSlices?: Map<string, ElementNode>;
  /** canonical URL of the StructureDefinition this node comes from */
  owner: string;
  /** must-support coverage: the validator's stamp of the last resource that populated this node */
  seenMark: number;
}

export interface Slot {
  node: ElementNode;
  type: TypeInfo;
  /** the key is `_name`: the extension part of a primitive */
  ext: boolean;
  /** the other key of the pair (`_name` for `name` and the other way round) */
  pair: string;
  /** cached by the validator: how a lone primitive value of this key is checked (see checkLeaf), or null
   *  when the key's values take the general path (arrays, slices, prohibited elements, complex types) */
  leaf?: Leaf | null;
}

/** A lone primitive value's checks: its type's format check, and whether anything else applies to it. */
export interface Leaf {
  check: (v: unknown) => string | undefined;
  /** only the format check applies (no fixed/pattern value, binding or invariant) */
  bare: boolean;
}

export interface Structure {
  url: string;
  type: string;
  kind: StructureDefinition['kind'];
  root: ElementNode;
  /** every node by element id (for contentReference and must-support lookups) */
  byId: Map<string, ElementNode>;
  mustSupport: ElementNode[];
}

const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';
const SYSTEM_TYPES: Record<string, string> = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

export class StructureCompiler {
  private readonly structures = new Map<string, Structure | null>();
  private readonly bases = new Map<string, Structure | null>();
  constructor(
    readonly conformance: Conformance,
    readonly terminology: Terminology,
  ) {}

  /** The compiled tree of a StructureDefinition by canonical URL, or undefined when it is not loaded. */
  structure(url: string): Structure | undefined {
    let s = this.structures.get(url);
    if (s === undefined) {
      const sd = this.conformance.structureDefinition(url);
      s = sd?.snapshot ? this.build(sd) : null;
      this.structures.set(url, s);
    }
    return s ?? undefined;
  }

  /** The base definition of a type or resource by name (asked per resource and per element: cached by
   *  name, so no canonical URL is built and hashed each time). */
  base(type: string): Structure | undefined {
    let s = this.bases.get(type);
    if (s === undefined) {
      s = this.structure(`http://hl7.org/fhir/StructureDefinition/${type}`) ?? null;
      this.bases.set(type, s);
    }
    return s ?? undefined;
  }

  /** What describes the content of one value of `node` with `type`: the node itself when the snapshot
   *  lists its children, else the type profile's or the type's root. */
  content(node: ElementNode, type: TypeInfo): ElementNode | undefined {
    if (node.children.length > 0) return node;
    if (node.contentReference) return this.reference(node);
    if (type.profile) {
      const s = this.structure(type.profile);
      if (s) return s.root;
    }
    return this.base(type.code)?.root;
  }

  /** The invariants to run on a value of `node` with `type`: the node's, then its type's and type
   *  profile's root constraints not already among them. */
  invariants(node: ElementNode, type: TypeInfo): Invariant[] {
    const out = [...node.invariants];
    const roots = [this.base(type.code)?.root, type.profile ? this.structure(type.profile)?.root : undefined];
    for (const root of roots) {
      if (!root || root === node) continue;
      for (const inv of root.invariants) if (!out.some((o) => o.key === inv.key)) out.push(inv);
    }
    return out;
  }

  private reference(node: ElementNode): ElementNode | undefined {
    const ref = node.contentReference!;
    const hash = ref.indexOf('#');
    const id = ref.slice(hash + 1);
    const owner = this.structure(node.owner);
    const local = owner?.byId.get(id);
    if (local) return local;
    return this.base(id.split('.')[0]!)?.byId.get(id);
  }

  private build(sd: StructureDefinition): Structure {
    const elements = sd.snapshot!.element;
    const byId = new Map<string, ElementNode>();
    const mustSupport: ElementNode[] = [];
    let root: ElementNode | undefined;
    for (const def of elements) {
      const node = this.node(def, sd.url);
      byId.set(def.id, node);
      if (node.mustSupport) mustSupport.push(node);
      const dot = lastDotOutsideSlice(def.id);
      if (dot < 0) {
        root = node;
        continue;
      }
      const last = def.id.slice(dot + 1);
      if (def.sliceName !== undefined && last.includes(':') && last.endsWith(`:${def.sliceName}`)) {
        const sliced = byId.get(def.id.slice(0, def.id.length - def.sliceName.length - 1));
        sliced?.slices.push(node);
      } else {
        const parent = byId.get(def.id.slice(0, dot));
        if (parent) {
          parent.children.push(node);
          // Elements a profile prohibits (max 0) keep their key: present, they are "not allowed", not "unknown".
          // An element without types (a contentReference) gets its own: the validator caches content per type.
          if (node.types.length === 0) node.types.push(typeInfo('BackboneElement', '', ''));
          for (const t of node.types) {
            const key = node.name + t.suffix;
            parent.keys.set(key, { node, type: t, ext: false, pair: `_${key}`, leaf: undefined });
            parent.keys.set(`_${key}`, { node, type: t, ext: true, pair: key, leaf: null });
          }
          if (node.min > 0) parent.required.push(node);
        }
      }
    }
    if (!root) throw new Error(`${sd.url}: snapshot has no root element`);
    const structure: Structure = { url: sd.url, type: sd.type, kind: sd.kind, root, byId, mustSupport };
    this.structures.set(sd.url, structure);
    for (const node of byId.values()) {
      if (node.slices.length > 0 || node.slicing) {
        if (node.choice && node.slicing?.typeOnly) {
          node.typeSlices = new Map(node.slices.flatMap((s) => s.types.map((t) => [t.code, s] as const)));
        } else if (node.slicing) {
          node.slicing.prepare(this, node);
        }
      }
    }
    return structure;
  }

  private node(def: ElementDefinition, owner: string): ElementNode {
    const pathLast = def.path.slice(def.path.lastIndexOf('.') + 1);
    const choice = pathLast.endsWith('[x]');
    const types: TypeInfo[] = (def.type ?? []).map((t) => {
      const fhirType = t.extension?.find((x) => x.url === FHIR_TYPE_EXT)?.valueUrl;
      const code = fhirType ?? SYSTEM_TYPES[t.code] ?? t.code;
      const info = typeInfo(code, choice ? code[0]!.toUpperCase() + code.slice(1) : '', `.ofType(${code})`);
      if (t.profile?.[0]) info.profile = t.profile[0];
      if (t.targetProfile?.length && (code === 'Reference' || code === 'canonical')) info.targetTypes = this.targetTypes(t.targetProfile);
      return info;
    });
    const max = def.max === '*' || def.max === undefined ? Number.POSITIVE_INFINITY : Number(def.max);
    const baseMax = (def.base as { max?: string } | undefined)?.max ?? def.max;
    const node: ElementNode = {
      id: def.id,
      path: def.path,
      name: choice ? pathLast.slice(0, -3) : pathLast,
      dotName: `.${choice ? pathLast.slice(0, -3) : pathLast}`,
      choice,
      min: def.min ?? 0,
      max,
      array: baseMax !== '1' && baseMax !== '0' && def.path.includes('.'),
      types,
      invariants: [],
      mustSupport: def.mustSupport === true,
      children: [],
      keys: new Map(),
      required: [],
      slices: [],
      owner,
      seenMark: 0,
      // every node has every property from the start (one hidden class): the validator reads them on each
      // element of each resource, and nodes of many shapes made those reads megamorphic
      sliceName: undefined,
      fixed: undefined,
      pattern: undefined,
      binding: undefined,
      contentReference: undefined,
      slicing: undefined,
      typeSlices: undefined,
    };
    if (def.sliceName !== undefined) node.sliceName = def.sliceName;
    if (def.contentReference) node.contentReference = def.contentReference;
    for (const key of Object.keys(def)) {
      if (key.startsWith('fixed')) node.fixed = def[key];
      else if (key.startsWith('pattern')) node.pattern = def[key];
    }
    const b = def.binding;
    if (b?.valueSet && (b.strength === 'required' || b.strength === 'extensible' || b.strength === 'preferred')) {
      node.binding = { strength: b.strength, valueSet: b.valueSet, matcher: this.terminology.valueSet(b.valueSet) };
    }
    for (const c of def.constraint ?? []) {
      const inv = compileInvariant(c, def.path);
      if (inv) node.invariants.push(inv);
    }
    if (def.slicing) node.slicing = compileSlicing(def.slicing);
    return node;
  }

  private targetTypes(profiles: string[]): ReadonlySet<string> | undefined {
    const out = new Set<string>();
    for (const p of profiles) {
      const sd = this.conformance.structureDefinition(p);
      const type = sd?.type ?? p.slice(p.lastIndexOf('/') + 1);
      if (type === 'Resource' || type === 'DomainResource') return undefined;
      out.add(type);
    }
    return out;
  }
}

/** A TypeInfo with every property present from the start (one hidden class, as for element nodes). */
function typeInfo(code: string, suffix: string, ofType: string): TypeInfo {
  return {
    code,
    profile: undefined,
    targetTypes: undefined,
    suffix,
    ofType,
    content: undefined,
    primitive: undefined,
    resource: undefined,
    invariants: undefined,
  };
}

/** Index of the dot before an id's last segment; dots inside a slice name (`:a.b`) do not count. */
function lastDotOutsideSlice(id: string): number {
  // Slice names in the published packages have no dots; a plain lastIndexOf is enough and cheap.
  return id.lastIndexOf('.');
}
