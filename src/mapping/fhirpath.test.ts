import { describe, expect, it } from 'vitest';
import fhirpath from 'fhirpath';
import { compileExpression, isTrue, type CompiledExpression } from './fhirpath.js';
import { compileFast } from './fhirpath-fast.js';

const expr = (t: string) => compileExpression(t) as CompiledExpression;

describe('FHIRPath over rows', () => {
  it('collects root columns and %parent members, not identifiers inside method arguments', () => {
    const e = expr("Stop.exists() and %parent.Code = 'x' or items.where(value > 1).exists() or iif(A.empty(), B, C)");
    expect(e.columns.map((c) => `${c.parent ? 'parent.' : ''}${c.column}`)).toEqual(['stop', 'parent.code', 'items', 'a', 'b', 'c']);
  });
  it('reads columns case-insensitively (rows have lower-cased keys)', () => {
    expect(expr('STOP.exists()').evaluate({ stop: 'x' }, undefined)).toEqual([true]);
    expect(expr("%parent.CODE + '-' + Value").evaluate({ value: 'v' }, { code: 'c' })).toEqual(['c-v']);
  });
  it('fast paths give exactly what fhirpath.js gives', () => {
    const exprs = ["code = 'a'", "code != 'a'", 'code.exists()', 'code.empty()', 'code.exists().not()', "code = 'it\\'s'"];
    const values = ['a', 'b', null, undefined, 1, 0, '', "it's", true];
    for (const t of exprs) {
      const fast = expr(t);
      const slow = fhirpath.compile(t);
      for (const v of values) {
        const row = v === undefined ? {} : { code: v };
        expect({ t, v, r: fast.evaluate(row, undefined) }).toEqual({ t, v, r: slow(row) });
      }
    }
  });
  it('reports syntax errors with the position inside the expression', () => {
    expect(compileExpression('a.exists(')).toMatch(/invalid FHIRPath "a.exists\(": line: 1; column: \d+/);
  });
  it('refuses functions fhirpath.js does not implement, with their position and a suggestion', () => {
    expect(compileExpression("Name.substrng(0, 2) = 'ab'")).toBe(
      `unknown FHIRPath function 'substrng' at 1:6 of "Name.substrng(0, 2) = 'ab'" (did you mean 'substring'?)`,
    );
    expect(compileExpression('a.exists() and\n  frobnicate(b)')).toMatch(/^unknown FHIRPath function 'frobnicate' at 2:3 of /);
    // known ones, with or without arguments, inside arguments, and in the fast subset, still compile
    for (const t of ["a.substring(0, 2) = 'ab'", 'a.exists()', 'b.where($this > 1).count()', "iif(a.empty(), 'x', a.upper())", 'today()'])
      expect(typeof compileExpression(t)).toBe('object');
  });
  it('condition truth follows FHIRPath boolean evaluation', () => {
    expect(isTrue([])).toBe(false);
    expect(isTrue([false])).toBe(false);
    expect(isTrue([true])).toBe(true);
    expect(isTrue(['x'])).toBe(true);
  });

  it('the JS-compiled subset agrees with fhirpath.js on generated expressions and values', () => {
    // A small deterministic generator: every expression of the subset over columns a, b, %parent.c.
    const atoms = ['a', 'b', '%parent.c', "'x'", "'1'", '1', '1.0', '2.5', 'true', 'false', '{}'];
    const bools = [
      ...['a', 'b', '%parent.c'].flatMap((c) => [`${c}.exists()`, `${c}.empty()`]),
      ...atoms.slice(0, 3).flatMap((x) => atoms.flatMap((y) => [`${x} = ${y}`, `${x} != ${y}`])),
      "a in ('x' | '1' | 1 | true)",
      "b in 'x'",
      'true',
      '{}',
    ];
    const exprs = [
      ...bools,
      ...bools
        .slice(0, 40)
        .flatMap((x, i) => [`${x} and ${bools[(i * 7) % bools.length]}`, `(${x} or ${bools[(i * 11) % bools.length]}).not()`]),
      'a',
      '-2.5 = b',
    ];
    const values = [null, 'x', '1', 1, 2.5, true, false, ''];
    let compiled = 0;
    let checks = 0;
    for (const t of exprs) {
      const fast = compileFast(fhirpath.parse(t));
      if (!fast) continue;
      compiled++;
      const slow = fhirpath.compile(t);
      for (const a of values) {
        for (const b of [null, 'x', 1]) {
          for (const c of [null, 'x', 1.0]) {
            const row = { a, b };
            const parent = { c };
            let want: unknown;
            try {
              want = slow(row, { parent });
            } catch {
              want = 'error';
            }
            let got: unknown;
            try {
              got = fast(row, parent);
            } catch {
              got = 'error';
            }
            // where fhirpath.js fails, the fast path may only decline (fall back), never answer
            if (want === 'error') expect({ t, a, b, c, got }).toEqual({ t, a, b, c, got: 'error' });
            else expect({ t, a, b, c, got }).toEqual({ t, a, b, c, got: want });
            checks++;
          }
        }
      }
    }
    expect(compiled).toBeGreaterThan(100);
    expect(checks).toBeGreaterThan(5000);
  });

  it('falls back to fhirpath.js for values outside the subset (arrays, objects)', () => {
    const e = expr("a = 'x'");
    expect(e.evaluate({ a: ['x', 'y'] }, undefined)).toEqual(fhirpath.evaluate({ a: ['x', 'y'] }, "a = 'x'"));
    expect(expr('a.exists()').evaluate({ a: ['x'] }, undefined)).toEqual([true]);
  });
});
