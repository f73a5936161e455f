import { describe, expect, it } from 'vitest';
import { referenceType } from './reference-type.js';

/** The specification of referenceType: the type is the first group of the leftmost match. */
const REFERENCE_TYPE = /(?:^|\/)([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

const spec = (ref: string): string | undefined => REFERENCE_TYPE.exec(ref)?.[1];

describe('referenceType', () => {
  it('reads the type of relative, versioned and absolute references', () => {
    expect(referenceType('Patient/123')).toBe('Patient');
    expect(referenceType('Patient/123/_history/2')).toBe('Patient');
    expect(referenceType('https://example.org/fhir/Observation/a-1.b')).toBe('Observation');
    expect(referenceType('https://example.org/fhir/Observation/a-1/_history/7')).toBe('Observation');
    expect(referenceType('patient/123')).toBeUndefined();
    expect(referenceType('P/123')).toBeUndefined();
    expect(referenceType('Patient/')).toBeUndefined();
    expect(referenceType('Patient/_history/2')).toBeUndefined();
    expect(referenceType(`Patient/${'x'.repeat(65)}`)).toBeUndefined();
  });

  it('agrees with the regex it replaces on generated references', () => {
    // pieces chosen to hit every branch: type-like and id-like segments, `_history`, empty segments,
    // characters outside both alphabets, and ids around the 64-character limit
    const pieces = [
      '/',
      '/',
      '/',
      'Patient',
      'P',
      'pat',
      '_history',
      '_history',
      '12',
      'a-b.c',
      '',
      'x'.repeat(63),
      'y'.repeat(64),
      'Z'.repeat(65),
      '#',
      ':',
      'http:',
      '//',
      ' ',
      'Ü',
      '_',
      '9Patient',
    ];
    const types = ['Patient', 'Ab', 'P', 'pat', '_history', '', 'Ob1'];
    const ids = ['12', 'a-b.c', 'x'.repeat(64), 'x'.repeat(65), '', '_', 'Patient'];
    let seed = 14;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    let matched = 0;
    for (let i = 0; i < 200_000; i++) {
      let ref = '';
      const parts = 1 + random(random(2) ? 9 : 3);
      for (let p = 0; p < parts; p++) ref += pieces[random(pieces.length)];
      // half of them end like a reference (`Type/id`, maybe `/_history/vid`) after the random start
      if (random(2)) {
        ref += `${random(2) ? '/' : ''}${types[random(types.length)]}/${ids[random(ids.length)]}`;
        if (random(2)) ref += `/_history/${ids[random(ids.length)]}`;
      }
      const expected = spec(ref);
      if (expected !== undefined) matched++;
      if (referenceType(ref) !== expected) expect({ ref, got: referenceType(ref) }).toEqual({ ref, got: expected });
    }
    // the generator must reach the matching cases too, not only the failing ones
    expect(matched).toBeGreaterThan(1000);
  });
});
