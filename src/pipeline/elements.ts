// `_elements` (Bulk Data IG, FHIR search): keep only the listed top-level elements, plus what a resource
// cannot be without (id, meta, resourceType, modifiers, mandatory elements), and tag the result SUBSETTED
// so nobody mistakes it for the whole resource.
import type { Coding } from 'fhir/r4';
import type { FhirResource } from '../mapping/types.js';
import { MANDATORY_ELEMENTS } from './mandatory-elements.js';

// Exactly as FHIR R4 writes it (search.html#elements, "SUBSETTED" in resource.html#tag): system and
// code, no display; clients and conformance suites compare the whole Coding.
export const SUBSETTED_TAG: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
};

/** Elements kept whatever is asked: identity, metadata and modifiers (dropping those changes meaning). */
const ALWAYS_KEPT = ['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension'];

export type ElementSubsetter = (resource: FhirResource) => FhirResource;

/**
 * A function that subsets resources to `elements`: entries are `Type.element` (for that type only) or
 * `element` (for every type). `name[x]` or a bare choice name keeps every choice form (`valueQuantity`…).
 */
export function elementSubsetter(elements: string[]): ElementSubsetter {
  const global: string[] = [];
  const perType = new Map<string, string[]>();
  for (const raw of elements) {
    const entry = raw.trim();
    if (!entry) continue;
    const dot = entry.indexOf('.');
    if (dot > 0 && /^[A-Z]/.test(entry)) {
      const type = entry.slice(0, dot);
      const list = perType.get(type) ?? [];
      list.push(entry.slice(dot + 1));
      perType.set(type, list);
    } else {
      global.push(entry);
    }
  }
  const matchers = new Map<string, (key: string) => boolean>();
  const matcherFor = (type: string): ((key: string) => boolean) => {
    let m = matchers.get(type);
    if (!m) {
      m = keyMatcher([...ALWAYS_KEPT, ...(MANDATORY_ELEMENTS[type] ?? []), ...global, ...(perType.get(type) ?? [])]);
      matchers.set(type, m);
    }
    return m;
  };

  return (resource) => {
    const keep = matcherFor(resource.resourceType);
    const out: Record<string, unknown> = {};
    let dropped = false;
    for (const [key, value] of Object.entries(resource)) {
      // `_birthDate` (a primitive's id/extensions) travels with `birthDate`.
      const element = key.startsWith('_') ? key.slice(1) : key;
      if (keep(element)) out[key] = value;
      else dropped = true;
    }
    if (!dropped) return resource;
    const meta = (out.meta ?? {}) as NonNullable<FhirResource['meta']>;
    const tags: Coding[] = meta.tag ?? [];
    if (!tags.some((t: Coding) => t.system === SUBSETTED_TAG.system && t.code === SUBSETTED_TAG.code)) {
      out.meta = { ...meta, tag: [...tags, SUBSETTED_TAG] };
    }
    return out as unknown as FhirResource;
  };
}

function keyMatcher(names: string[]): (key: string) => boolean {
  const exact = new Set<string>();
  const choices: string[] = [];
  for (const name of names) {
    if (name.endsWith('[x]')) choices.push(name.slice(0, -3));
    else {
      exact.add(name);
      choices.push(name);
    }
  }
  return (key) => {
    if (exact.has(key)) return true;
    // A choice element is written as name + data type: `value` matches `valueQuantity`, while `status`
    // does not match `statusReason`.
    return choices.some((c) => key.length > c.length && key.startsWith(c) && CHOICE_TYPES.has(key.slice(c.length)));
  };
}

/** The data types a choice element ([x]) can take in R4, as they appear in element names. */
const CHOICE_TYPES = new Set(
  (
    'Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid PositiveInt String Time ' +
    'UnsignedInt Uri Url Uuid Address Age Annotation Attachment CodeableConcept Coding ContactPoint Count Distance ' +
    'Duration HumanName Identifier Money Period Quantity Range Ratio Reference SampledData Signature Timing ' +
    'ContactDetail Contributor DataRequirement Expression ParameterDefinition RelatedArtifact TriggerDefinition ' +
    'UsageContext Dosage Meta'
  ).split(' '),
);
