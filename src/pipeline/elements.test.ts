import { describe, expect, it } from 'vitest';
import type { FhirResource } from '../mapping/types.js';
import { elementSubsetter, SUBSETTED_TAG } from './elements.js';

const observation = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { profile: ['http://example.org/p'], tag: [{ system: 'http://example.org/t', code: 'x' }] },
  status: 'final',
  _status: { extension: [{ url: 'http://example.org/e', valueString: 'why' }] },
  statusReason: { text: 'not a real element, but named like one' },
  code: { text: 'glucose' },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value: 5.4 },
  issued: '2024-01-01T00:00:00Z',
  note: [{ text: 'n' }],
  modifierExtension: [{ url: 'http://example.org/m', valueBoolean: true }],
} as unknown as FhirResource;

describe('elementSubsetter', () => {
  it('keeps listed, mandatory, identity and modifier elements, and appends the SUBSETTED tag', () => {
    const out = elementSubsetter(['subject'])(observation) as unknown as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['_status', 'code', 'id', 'meta', 'modifierExtension', 'resourceType', 'status', 'subject']);
    expect((out.meta as { tag: unknown[]; profile: string[] }).tag).toEqual([{ system: 'http://example.org/t', code: 'x' }, SUBSETTED_TAG]);
    expect(SUBSETTED_TAG).toStrictEqual({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' });
    expect((out.meta as { profile: string[] }).profile).toEqual(['http://example.org/p']);
    // the input is not modified
    expect(observation.meta?.tag).toHaveLength(1);
  });

  it('matches choice elements by name or name[x], and Type.element only for that type', () => {
    const byChoice = elementSubsetter(['value[x]', 'Patient.note'])(observation) as unknown as Record<string, unknown>;
    expect(byChoice.valueQuantity).toBeDefined();
    expect(byChoice.note).toBeUndefined();
    const byName = elementSubsetter(['Observation.value', 'Observation.note'])(observation) as unknown as Record<string, unknown>;
    expect(byName.valueQuantity).toBeDefined();
    expect(byName.note).toBeDefined();
    expect(byName.statusReason).toBeUndefined();
  });

  it('returns the resource untouched and untagged when nothing is dropped', () => {
    const patient = { resourceType: 'Patient', id: 'p', gender: 'male' } as FhirResource;
    expect(elementSubsetter(['gender'])(patient)).toBe(patient);
  });
});
