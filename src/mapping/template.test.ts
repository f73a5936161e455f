import { describe, expect, it } from 'vitest';
import { parseTemplate, type StringTemplate } from './template.js';
import { canonicalKeyValue, hashId } from './ids.js';
import { getZone } from './datetime.js';

const tpl = (t: string) => parseTemplate(t) as StringTemplate;

describe('string templates', () => {
  it('splits literals and columns (lower-cased), with parent references and escaped braces', () => {
    const t = tpl('Patient/{PATIENT} {{x}} {parent.Code}');
    expect(t.refs).toEqual([
      { column: 'patient', parent: false },
      { column: 'code', parent: true },
    ]);
    expect(t.render({ patient: 'p1' }, { code: 'c' })).toBe('Patient/p1 {x} c');
  });
  it('leaves the whole value out when a referenced value is null or blank', () => {
    const t = tpl('{A}-{B}');
    expect(t.render({ a: 'x', b: null }, undefined)).toBeUndefined();
    expect(t.render({ a: 'x', b: '  ' }, undefined)).toBeUndefined();
    expect(t.render({ a: 'x', b: 0 }, undefined)).toBe('x-0');
    expect(tpl('{A}').render({}, undefined)).toBeUndefined();
  });
  it('renders numbers canonically', () => {
    expect(tpl('{V}').render({ v: 85.5 }, undefined)).toBe('85.5');
  });
  it('constant templates and malformed ones', () => {
    expect(tpl('plain {{text}}').constant).toBe('plain {text}');
    expect(parseTemplate('{COLUMN')).toMatch(/unclosed "\{" at character 1/);
    expect(parseTemplate('a {B {C}')).toMatch(/unclosed/);
    expect(parseTemplate('a {}')).toMatch(/empty "\{\}"/);
  });
});

describe('canonical key values', () => {
  const utc = getZone('UTC');
  it('normalises numbers and numeric text, keeps codes with leading zeros', () => {
    expect(canonicalKeyValue('85.50', utc)).toBe('85.5');
    expect(canonicalKeyValue(85.5, utc)).toBe('85.5');
    expect(canonicalKeyValue('100.00', utc)).toBe('100');
    expect(canonicalKeyValue(100, utc)).toBe('100');
    expect(canonicalKeyValue('007', utc)).toBe('007');
    expect(canonicalKeyValue('12345678901234567890', utc)).toBe('12345678901234567890');
    expect(canonicalKeyValue(' abc ', utc)).toBe('abc');
    expect(canonicalKeyValue('', utc)).toBeUndefined();
    expect(canonicalKeyValue(null, utc)).toBeUndefined();
  });
  it('normalises timestamps to the instant, naive ones in the connector zone', () => {
    const want = '2014-05-06T08:34:30Z';
    for (const v of [
      '2014-05-06T08:34:30Z',
      '2014-05-06 08:34:30',
      '2014-05-06 08:34:30+00',
      '2014-05-06 08:34:30.000+00:00',
      new Date(Date.UTC(2014, 4, 6, 8, 34, 30)),
    ]) {
      expect(canonicalKeyValue(v, utc)).toBe(want);
    }
    expect(canonicalKeyValue('2014-05-06 04:34:30', getZone('America/New_York'))).toBe(want);
    expect(canonicalKeyValue('2014-05-06', utc)).toBe('2014-05-06');
  });
  it('hash ids are 52 base32 characters and depend on every part', () => {
    const a = hashId('m', 'Patient', ['1']);
    expect(a).toMatch(/^[a-z2-7]{52}$/);
    expect(hashId('m2', 'Patient', ['1'])).not.toBe(a);
    expect(hashId('m', 'Person', ['1'])).not.toBe(a);
    expect(hashId('m', 'Patient', ['1', ''])).not.toBe(a);
    // the separator keeps ('ab','c') and ('a','bc') apart
    expect(hashId('m', 'P', ['ab', 'c'])).not.toBe(hashId('m', 'P', ['a', 'bc']));
  });
});
