import { describe, expect, it } from 'vitest';
import { lowerCaseKeys, normaliseRow } from './normalise.js';

describe('row normalising', () => {
  it('normaliseRow lower-cases keys and makes values portable', () => {
    expect(normaliseRow({ Id: 1, BIG: 2n ** 70n, At: new Date('2020-01-02T03:04:05Z'), Gone: undefined })).toEqual({
      id: 1,
      big: '1180591620717411303424',
      at: '2020-01-02T03:04:05.000Z',
      gone: null,
    });
  });

  it('lowerCaseKeys hands on the rows of a result whose columns are lower case as they are', () => {
    const normalise = lowerCaseKeys();
    const first = { id: 'a', patient: 'p1', value: null };
    const second = { id: 'b', patient: 'p2', value: '7.5' };
    expect(normalise(first)).toBe(first);
    expect(normalise(second)).toBe(second);
  });

  it('lowerCaseKeys copies every row of a result with an upper-case column, each normalised', () => {
    const normalise = lowerCaseKeys();
    const rows = [
      { Id: 'a', patient: 'p1' },
      { Id: 'b', patient: 'p2' },
    ];
    const out = rows.map(normalise);
    expect(out).toEqual([
      { id: 'a', patient: 'p1' },
      { id: 'b', patient: 'p2' },
    ]);
    expect(out[0]).not.toBe(rows[0]);
    // each result decides for itself
    const lower = { id: 'c' };
    expect(lowerCaseKeys()(lower)).toBe(lower);
  });
});
