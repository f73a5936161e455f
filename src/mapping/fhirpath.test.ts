import { describe, expect, it } from 'vitest';
import fhirpath from 'fhirpath';
import { compileExpression, isTrue, type CompiledExpression } from './fhirpath.js';
import { compileFast } from './fhirpath-fast.js';
import { columnsUsedAsNumbers } from './numeric-text.js';

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
  it('fast comparisons and string functions give exactly what fhirpath.js gives', () => {
    const exprs = [
      'a < b',
      'a <= b',
      'a > b',
      'a >= b',
      "a >= '2020-01-01'",
      'a > 1',
      'a.substring(0, 4) >= b.substring(0, 4)',
      'a.substring(2)',
      'a.substring(1, 0)',
      "a.matches('^[0-9]+-[0-9]$')",
      "a.matches('x.y')",
      "a.matches('^É')",
      "a.exists() and a.matches('^[(]01[)]')",
    ];
    const values = [
      null,
      undefined,
      'a',
      'b',
      '',
      '1',
      '12-3',
      '2',
      10,
      9,
      1.5,
      true,
      'x\ny',
      'É',
      '2020-01-01',
      '2019-12-31T23:59:59Z',
      ['a', 'b'],
      [],
    ];
    let fastOnes = 0;
    for (const t of exprs) {
      const ast = fhirpath.parse(t);
      if (compileFast(ast, columnsUsedAsNumbers(ast))) fastOnes++;
      const fast = expr(t);
      const slow = compileExpression(t, { fast: false }) as CompiledExpression;
      for (const a of values) {
        for (const b of values) {
          const row: Record<string, unknown> = {};
          if (a !== undefined) row.a = a;
          if (b !== undefined) row.b = b;
          const run = (e: CompiledExpression): unknown => {
            try {
              return e.evaluate(row, undefined);
            } catch (err) {
              return `error: ${(err as Error).message}`;
            }
          };
          expect({ t, a, b, r: run(fast) }).toEqual({ t, a, b, r: run(slow) });
        }
      }
    }
    expect(fastOnes).toBe(exprs.length);
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
    // the reference is fhirpath.js on the text it is given (numeric-text.ts: columns used with a number
    // read numeric text as numbers there too)
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
    const values = [null, 'x', '1', '1.0', '01', '-2.5', '2.5e0', ' 1', 1, 2.5, true, false, ''];
    let compiled = 0;
    let checks = 0;
    for (const t of exprs) {
      const ast = fhirpath.parse(t);
      const fast = compileFast(ast, columnsUsedAsNumbers(ast));
      if (!fast) continue;
      compiled++;
      const slowOnly = compileExpression(t, { fast: false }) as CompiledExpression;
      const slow = (row: Record<string, unknown>, env: { parent: Record<string, unknown> }) => slowOnly.evaluate(row, env.parent);
      for (const a of values) {
        for (const b of [null, 'x', 1, '1']) {
          for (const c of [null, 'x', 1.0, '1.0']) {
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

  it('reads text that spells a number as that number where a column is used with a number', () => {
    // PostgreSQL/MariaDB give ROW_NUMBER() and NUMERIC as text, SQLite as numbers, CSV files only text
    for (const seq of ['1', 1, '1.0', '+1'])
      expect(expr('procedure_seq = 1').evaluate({ procedure_seq: seq }, undefined), String(seq)).toEqual([true]);
    for (const seq of ['2', 2, 'one', '1e0', ' 1', ''])
      expect(isTrue(expr('procedure_seq = 1').evaluate({ procedure_seq: seq }, undefined)), String(seq)).toBe(false);
    expect(expr('1 != Seq').evaluate({ seq: '1' }, undefined)).toEqual([false]);
    expect(expr('%parent.seq = -2.5').evaluate({}, { seq: '-2.50' })).toEqual([true]);
    expect(expr("seq in (1 | 'x')").evaluate({ seq: '1' }, undefined)).toEqual([true]);
    // outside the JS-compiled subset: fhirpath.js, same reading (it would say '12.50' > 0 is an error)
    expect(expr('amount > 0 and amount <= 12.5').evaluate({ amount: '12.50' }, undefined)).toEqual([true]);
    expect(expr('(dispenses - 1) * 2').evaluate({ dispenses: '3' }, undefined)).toEqual([4]);
    expect(expr("iif(seq = 1, 'principal', 'other')").evaluate({ seq: '1' }, undefined)).toEqual(['principal']);
    expect(expr("seq = 1 and code.startsWith('72')").evaluate({ seq: '1', code: '7289' }, undefined)).toEqual([true]);
    // text compared with text, and columns inside method arguments, stay as they are
    expect(expr("zip = '2134'").evaluate({ zip: '02134' }, undefined)).toEqual([false]);
    expect(expr('seq = other').evaluate({ seq: '1', other: 1 }, undefined)).toEqual([false]);
    expect(expr("code.substring(0, 1) = '7'").evaluate({ code: '72' }, undefined)).toEqual([true]);
    expect(expr('items.where($this = 1).exists()').evaluate({ items: ['1'] }, undefined)).toEqual([false]);
  });

  it('falls back to fhirpath.js for values outside the subset (arrays, objects)', () => {
    const e = expr("a = 'x'");
    expect(e.evaluate({ a: ['x', 'y'] }, undefined)).toEqual(fhirpath.evaluate({ a: ['x', 'y'] }, "a = 'x'"));
    expect(expr('a.exists()').evaluate({ a: ['x'] }, undefined)).toEqual([true]);
  });
});
