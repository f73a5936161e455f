import { describe, expect, it } from 'vitest';
import { realDay } from './primitives.js';

// The Date-free day check against the calendar of Date itself.
describe('realDay', () => {
  it('accepts exactly the days that exist, leap years included', () => {
    const two = (n: number): string => String(n).padStart(2, '0');
    for (const year of [1600, 1700, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999]) {
      for (let month = 1; month <= 12; month++) {
        for (let day = 1; day <= 31; day++) {
          const text = `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}`;
          const exists = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
          expect([text, realDay(text)]).toEqual([text, exists]);
          expect(realDay(`${text}T10:00:00Z`)).toBe(exists);
        }
      }
    }
    // shorter precisions name no day
    expect(realDay('2024-02')).toBe(true);
  });
});
