import { describe, expect, it } from 'vitest';
import { closest } from '../../mapping/index.js';
import { parseInstant, splitList } from './export.js';

describe('export option parsing', () => {
  it('reads instants with an offset and plain dates, and refuses ambiguous or bad ones', () => {
    expect(parseInstant('2024-03-01T10:00:00+02:00').toISOString()).toBe('2024-03-01T08:00:00.000Z');
    expect(parseInstant('2024-03-01').toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(() => parseInstant('2024-03-01T10:00:00')).toThrow(/expected an instant/);
    expect(() => parseInstant('2024-13-45')).toThrow(/expected an instant/);
  });

  it('splits repeated and comma-separated lists', () => {
    expect(splitList(['Patient,Observation', ' Condition '])).toEqual(['Patient', 'Observation', 'Condition']);
    expect(splitList(',')).toBeUndefined();
  });
});

describe('did you mean', () => {
  it('suggests the nearest column within a few edits only', () => {
    expect(closest('birthdat', ['id', 'birthdate', 'deathdate'])).toBe('birthdate');
    expect(closest('zzz', ['id', 'birthdate'])).toBeUndefined();
  });
});
