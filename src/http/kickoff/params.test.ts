import { describe, expect, it } from 'vitest';
import { HttpError } from '../../errors.js';
import { isLenient, parseKickoffParams, splitTypeFilter, type KickoffSource } from './params.js';

const knownTypes = new Set(['Patient', 'Observation', 'Condition', 'MedicationRequest', 'Provenance', 'Group']);

function get(query: Record<string, unknown>, extra: Partial<KickoffSource> = {}) {
  return parseKickoffParams({ method: 'GET', query, level: 'system', lenient: false, knownTypes, ...extra });
}

function rejection(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError);
    return e as HttpError;
  }
  throw new Error('expected a rejection');
}

describe('kick-off parameters', () => {
  it('accepts the three ndjson spellings of _outputFormat and rejects others even when lenient', () => {
    for (const f of ['application/fhir+ndjson', 'application/ndjson', 'ndjson', 'NDJSON']) {
      expect(get({ _outputFormat: f }).outputFormat).toBe('application/fhir+ndjson');
    }
    const e = rejection(() => get({ _outputFormat: 'text/csv' }, { lenient: true }));
    expect(e.status).toBe(400);
    expect(e.message).toContain('text/csv');
  });

  it('requires _since to be a FHIR instant and normalises it', () => {
    expect(get({ _since: '2020-01-02T03:04:05+02:00' }).since).toBe('2020-01-02T01:04:05.000Z');
    for (const bad of ['2020-01-02', '2020-13-01T00:00:00Z', 'yesterday', '2020-01-02T03:04Z']) {
      const e = rejection(() => get({ _since: bad }, { lenient: true }));
      expect(e.status).toBe(400);
      expect(e.issueCode).toBe('invalid');
    }
    expect(rejection(() => get({ _since: ['2020-01-02T00:00:00Z', '2021-01-02T00:00:00Z'] })).message).toContain('only once');
  });

  it('joins repeated list parameters as if they were comma separated', () => {
    const p = get({ _type: ['Patient,Observation', 'Condition', 'Patient'], _elements: ['id', 'Patient.name'] });
    expect(p.types).toEqual(['Patient', 'Observation', 'Condition']);
    expect(p.elements).toEqual(['id', 'Patient.name']);
  });

  it('rejects an unknown resource type in _type, even when lenient', () => {
    const e = rejection(() => get({ _type: 'Patient,Bogus' }, { lenient: true }));
    expect(e.message).toContain('Bogus');
  });

  it('rejects nested or malformed _elements', () => {
    expect(rejection(() => get({ _elements: 'name.given' })).status).toBe(400);
    expect(rejection(() => get({ _elements: 'Bogus.id' })).message).toContain('Bogus');
  });

  it('rejects unknown parameters unless handling=lenient, which records them', () => {
    expect(rejection(() => get({ _foo: '1' })).message).toContain('_foo');
    const p = get({ _foo: '1', _type: 'Patient' }, { lenient: true });
    expect(p.types).toEqual(['Patient']);
    expect(p.ignored).toHaveLength(1);
    expect(p.ignored[0]).toMatchObject({ severity: 'warning', code: 'not-supported', expression: ['_foo'] });
  });

  it('takes patient only from POST, and not at system level', () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', valueReference: { reference: 'Patient/p1' } },
        { name: 'patient', valueReference: { reference: 'https://x.org/fhir/Patient/p2' } },
      ],
    };
    const post = parseKickoffParams({ method: 'POST', query: {}, body, level: 'patient', lenient: false, knownTypes });
    expect(post.patients).toEqual(['p1', 'p2']);
    expect(rejection(() => get({ patient: 'Patient/p1' }, { level: 'patient' })).message).toContain('POST');
    expect(
      rejection(() => parseKickoffParams({ method: 'POST', query: {}, body, level: 'system', lenient: false, knownTypes })).message,
    ).toContain('system-level');
    const bad = { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: 'Group/1' } }] };
    expect(
      rejection(() => parseKickoffParams({ method: 'POST', query: {}, body: bad, level: 'patient', lenient: false, knownTypes })).status,
    ).toBe(400);
  });

  it('reads a POST Parameters resource (valueString, valueInstant) and rejects other bodies', () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueString: 'Patient' },
        { name: '_type', valueString: 'Observation' },
        { name: '_since', valueInstant: '2021-01-01T00:00:00Z' },
        { name: '_outputFormat', valueString: 'ndjson' },
      ],
    };
    const p = parseKickoffParams({ method: 'POST', query: {}, body, level: 'system', lenient: false, knownTypes });
    expect(p.types).toEqual(['Patient', 'Observation']);
    expect(p.since).toBe('2021-01-01T00:00:00.000Z');
    expect(
      rejection(() =>
        parseKickoffParams({ method: 'POST', query: {}, body: { resourceType: 'Bundle' }, level: 'system', lenient: false, knownTypes }),
      ).status,
    ).toBe(400);
  });

  it('splits _typeFilter on commas that start a new query only', () => {
    expect(
      splitTypeFilter('MedicationRequest?status=active,completed,MedicationRequest?status=completed&date=gt2018-07-01T00:00:00Z'),
    ).toEqual(['MedicationRequest?status=active,completed', 'MedicationRequest?status=completed&date=gt2018-07-01T00:00:00Z']);
    const p = get({ _typeFilter: ['Observation?code=1,2', 'Condition?code=3'] });
    expect(p.typeFilters).toEqual(['Observation?code=1,2', 'Condition?code=3']);
    expect(rejection(() => get({ _typeFilter: 'Observation?_include=Observation:subject' }, { lenient: true })).message).toContain(
      '_include',
    );
    expect(rejection(() => get({ _typeFilter: 'status=active' })).status).toBe(400);
  });

  it('accepts the provenance includeAssociatedData values; custom ones are unsupported', () => {
    expect(get({ includeAssociatedData: 'LatestProvenanceResources' }).includeAssociatedData).toEqual(['LatestProvenanceResources']);
    expect(rejection(() => get({ includeAssociatedData: '_mine' })).status).toBe(400);
    const p = get({ includeAssociatedData: '_mine' }, { lenient: true });
    expect(p.includeAssociatedData).toBeUndefined();
    expect(p.ignored[0]!.diagnostics).toContain('_mine');
  });

  it('recognises handling=lenient among other Prefer tokens', () => {
    expect(isLenient('respond-async, handling=lenient')).toBe(true);
    expect(isLenient(['respond-async', 'handling = lenient'])).toBe(true);
    expect(isLenient('respond-async')).toBe(false);
    expect(isLenient(undefined)).toBe(false);
  });
});
