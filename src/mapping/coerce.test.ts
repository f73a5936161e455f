import { describe, expect, it } from 'vitest';
import { CoercionError, makeCoercer } from './coerce.js';
import type { AsType } from './vocabulary.js';
import { getZone, localToEpoch, daysFromCivil } from './datetime.js';

const utc = getZone('UTC');
const ny = getZone('America/New_York');
const c = (as: AsType, v: unknown, zone = utc) => makeCoercer(as, zone)(v);
const fails = (as: AsType, v: unknown, zone = utc) => expect(() => c(as, v, zone)).toThrow(CoercionError);

describe('date', () => {
  it('keeps partial dates and takes the date part of timestamps', () => {
    expect(c('date', '1950-01-02')).toBe('1950-01-02');
    expect(c('date', '1950')).toBe('1950');
    expect(c('date', '1950-07')).toBe('1950-07');
    expect(c('date', '2014-05-06 08:34:30')).toBe('2014-05-06');
    expect(c('date', ' 2014-05-06T08:34:30Z ')).toBe('2014-05-06');
  });
  it('reads an offset timestamp in the connector zone', () => {
    // 02:00Z on May 6th is still May 5th in New York (EDT, -04:00)
    expect(c('date', '2014-05-06T02:00:00Z', ny)).toBe('2014-05-05');
    expect(c('date', '2014-05-06T02:00:00Z', utc)).toBe('2014-05-06');
    // a naive timestamp is already wall-clock time in the connector zone
    expect(c('date', '2014-05-06 02:00:00', ny)).toBe('2014-05-06');
  });
  it('reads DD-MON-YYYY (CMS RIF, Oracle) dates', () => {
    expect(c('date', '27-OCT-1999')).toBe('1999-10-27');
    expect(c('dateTime', '1-jan-2000')).toBe('2000-01-01');
    fails('date', '31-FEB-2000');
    fails('date', '01-FOO-2000');
  });
  it('rejects impossible dates', () => {
    fails('date', '1950-13-02');
    fails('date', '2019-02-29');
    fails('date', 'yesterday');
    expect(c('date', '2020-02-29')).toBe('2020-02-29');
  });
  it('leaves out null and blank', () => {
    expect(c('date', null)).toBeUndefined();
    expect(c('date', '  ')).toBeUndefined();
  });
});

describe('dateTime and instant', () => {
  it('renders the same instant identically whatever the source shape', () => {
    const shapes = [
      '2014-05-06T08:34:30Z',
      '2014-05-06 08:34:30+00',
      '2014-05-06 08:34:30+00:00',
      '2014-05-06 08:34:30',
      '2014-05-06T08:34:30.000Z',
      '2014-05-06 04:34:30-0400',
    ];
    const out = new Set(shapes.map((s) => c('dateTime', s)));
    expect([...out]).toEqual(['2014-05-06T08:34:30+00:00']);
  });
  it('renders in the connector zone and reads naive timestamps there', () => {
    expect(c('dateTime', '2014-05-06T08:34:30Z', ny)).toBe('2014-05-06T04:34:30-04:00');
    expect(c('dateTime', '2014-01-06 08:34:30', ny)).toBe('2014-01-06T08:34:30-05:00');
    expect(c('dateTime', '2014-01-06 08:34:30.250', ny)).toBe('2014-01-06T08:34:30.25-05:00');
    expect(c('instant', '2014-01-06 08:34', ny)).toBe('2014-01-06T08:34:00-05:00');
  });
  it('honours $tz-style zones with non-hour offsets', () => {
    expect(c('dateTime', '2020-06-01T00:00:00Z', getZone('Asia/Kathmandu'))).toBe('2020-06-01T05:45:00+05:45');
  });
  it('keeps a bare date for dateTime, refuses it for instant', () => {
    expect(c('dateTime', '2014-05-06')).toBe('2014-05-06');
    fails('instant', '2014-05-06');
  });
  it('handles the spring-forward gap (moved forward) and the fall-back overlap (earlier instant)', () => {
    // 2021-03-14 02:30 does not exist in New York: read with the pre-gap offset (-05:00) = 03:30 EDT
    expect(c('dateTime', '2021-03-14 02:30:00', ny)).toBe('2021-03-14T03:30:00-04:00');
    // 2021-11-07 01:30 happens twice: the first (EDT) is taken
    expect(c('dateTime', '2021-11-07 01:30:00', ny)).toBe('2021-11-07T01:30:00-04:00');
    // instants on either side of the fall-back transition keep their own offsets
    expect(c('dateTime', '2021-11-07T05:30:00Z', ny)).toBe('2021-11-07T01:30:00-04:00');
    expect(c('dateTime', '2021-11-07T06:30:00Z', ny)).toBe('2021-11-07T01:30:00-05:00');
  });
  it('agrees with Intl for many instants around transitions', () => {
    const fmt = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', timeZoneName: 'longOffset' });
    for (let ms = Date.UTC(2021, 2, 27); ms < Date.UTC(2021, 2, 29); ms += 17 * 60_000) {
      const out = c('instant', new Date(ms).toISOString(), getZone('Europe/Berlin')) as string;
      const off =
        fmt
          .formatToParts(ms)
          .find((p) => p.type === 'timeZoneName')!
          .value.replace('GMT', '') || '+00:00';
      expect(out.endsWith(off)).toBe(true);
      expect(Date.parse(out)).toBe(Math.floor(ms / 1000) * 1000);
    }
  });
  it('agrees with Intl on instants from 1900 to 2037 in several zones (incl. pre-1970, not cached)', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const name of ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Sao_Paulo']) {
      const fmt = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'longOffset' });
      for (let i = 0; i < 300; i++) {
        const ms = Math.floor((Date.UTC(1900, 0, 1) + rand() * (Date.UTC(2037, 0, 1) - Date.UTC(1900, 0, 1))) / 1000) * 1000;
        const out = c('instant', new Date(ms).toISOString(), getZone(name)) as string;
        let off =
          fmt
            .formatToParts(ms)
            .find((p) => p.type === 'timeZoneName')!
            .value.replace('GMT', '') || '+00:00';
        if (/^[+-]\d{2}:\d{2}:\d{2}$/.test(off)) off = off.slice(0, 6); // LMT seconds are dropped
        expect({ name, ms, end: out.slice(-6) }).toEqual({ name, ms, end: off });
        if (!/:\d{2}:\d{2}$/.test(fmt.formatToParts(ms).find((p) => p.type === 'timeZoneName')!.value)) expect(Date.parse(out)).toBe(ms);
      }
    }
  });
  it('localToEpoch inverts wall-clock time outside transitions', () => {
    const local = daysFromCivil(2021, 7, 1) * 86_400_000 + 12 * 3_600_000;
    expect(localToEpoch(ny, local)).toBe(Date.UTC(2021, 6, 1, 16));
  });
  it('rejects bad timestamps', () => {
    fails('dateTime', '2014-05-06 25:00:00');
    fails('dateTime', '06/05/2014');
    fails('instant', 12345);
  });
});

describe('numbers and booleans', () => {
  it('decimal from text or number gives the same JSON number', () => {
    expect(c('decimal', '85.50')).toBe(85.5);
    expect(c('decimal', 85.5)).toBe(85.5);
    expect(c('decimal', ' 1e3 ')).toBe(1000);
    expect(c('decimal', '-0.0')).toBe(0);
    fails('decimal', '12abc');
    fails('decimal', '1e400');
    fails('decimal', 'NaN');
    expect(c('decimal', '')).toBeUndefined();
  });
  it('integers are whole and range-checked', () => {
    expect(c('integer', '42')).toBe(42);
    expect(c('integer', 42)).toBe(42);
    expect(c('integer', '12.00')).toBe(12);
    expect(c('integer', '-5')).toBe(-5);
    fails('integer', '4.5');
    fails('integer', '2147483648');
    fails('positiveInt', '0');
    expect(c('unsignedInt', '0')).toBe(0);
    fails('unsignedInt', -1);
  });
  it('booleans accept the usual spellings', () => {
    for (const t of ['true', 'T', 'y', 'Yes', '1', 1, true]) expect(c('boolean', t)).toBe(true);
    for (const f of ['false', 'F', 'n', 'NO', '0', 0, false]) expect(c('boolean', f)).toBe(false);
    fails('boolean', 'maybe');
    fails('boolean', 2);
  });
});

describe('text types', () => {
  it('trims, renders numbers canonically and checks code and id', () => {
    expect(c('string', '  hello ')).toBe('hello');
    expect(c('string', 85.5)).toBe('85.5');
    expect(c('string', '   ')).toBeUndefined();
    expect(c('code', ' 8480-6 ')).toBe('8480-6');
    fails('code', 'a  b');
    expect(c('id', 'abc-1.2')).toBe('abc-1.2');
    fails('id', 'a/b');
    fails('id', 'x'.repeat(65));
  });
});
