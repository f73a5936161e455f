// A JS compiler for the FHIRPath subset mappings use most in `when`, `$when` and `$if` — column tests
// (`x.exists()`, `x.empty()`), comparisons with literals or columns (`x = 'a'`, `x != y`, `to >= from`),
// `in` over a literal list, and/or/not, `matches` and `substring` with literal arguments — so that those
// conditions cost a property read instead of an interpreter run (a CMS claim mapping evaluates a hundred
// of them per row). Anything else, and any value that is not a plain scalar at run time, goes to
// fhirpath.js; the results are the same (see fhirpath.test.ts).
// Columns used with a number read numeric text as numbers, in both evaluators (numeric-text.ts).
import type { Row } from '../connectors/types.js';
import { numberOfText } from './numeric-text.js';

interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  children?: AstNode[];
}

/** Marks "empty collection" in the scalar world of this compiler. */
const NONE = Symbol('empty');
/** Thrown when a run-time value is outside the subset (e.g. an array column): the caller re-evaluates slowly. */
export const FALLBACK = Symbol('fallback');

type Fn = (row: Row, parent: Row | undefined) => unknown;
interface Compiled {
  fn: Fn;
  /** yields only true / false / NONE */
  bool: boolean;
}

const TRUE = [true];
const FALSE = [false];
const EMPTY: unknown[] = [];

/**
 * A fast evaluator with fhirpath.js's results, or undefined when the expression is outside the subset.
 * `numeric`: the member nodes of columns used with a number (columnsUsedAsNumbers of the same AST).
 */
export function compileFast(
  ast: unknown,
  numeric: ReadonlySet<unknown> = new Set(),
): ((row: Row, parent: Row | undefined) => unknown[]) | undefined {
  const c = node(ast as AstNode, numeric);
  if (!c) return undefined;
  const fn = c.fn;
  return (row, parent) => {
    const v = fn(row, parent);
    if (v === NONE) return EMPTY;
    if (v === true) return TRUE;
    if (v === false) return FALSE;
    return [v];
  };
}

function scalar(v: unknown): unknown {
  if (v === null || v === undefined) return NONE;
  const t = typeof v;
  if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v))) return v;
  throw FALLBACK;
}

function only(n: AstNode): AstNode | undefined {
  return n.children?.length === 1 ? n.children[0] : undefined;
}

/** `numeric`: as for compileFast */
function node(n: AstNode, numeric: ReadonlySet<unknown>): Compiled | undefined {
  switch (n.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
    case 'ParenthesizedTerm': {
      const c = only(n);
      return c ? node(c, numeric) : undefined;
    }
    case 'MemberInvocation': {
      if (!n.atRoot || !n.text || n.text.startsWith('`')) return undefined;
      const col = n.text;
      if (numeric.has(n)) return { fn: (row) => scalar(numberOfText(row[col])), bool: false };
      return { fn: (row) => scalar(row[col]), bool: false };
    }
    case 'LiteralTerm': {
      const lit = literal(n);
      if (lit === undefined) return undefined;
      const v = lit.value;
      return { fn: () => v, bool: typeof v === 'boolean' || v === NONE };
    }
    case 'PolarityExpression': {
      const inner = only(n);
      const lit = inner?.type === 'TermExpression' && only(inner)?.type === 'LiteralTerm' ? literal(only(inner)!) : undefined;
      if (!lit || typeof lit.value !== 'number') return undefined;
      const v = n.text === '-' ? -lit.value : lit.value;
      return { fn: () => v, bool: false };
    }
    case 'InvocationExpression':
      return invocation(n, numeric);
    case 'EqualityExpression': {
      if ((n.text !== '=' && n.text !== '!=') || n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!, numeric);
      const b = node(n.children[1]!, numeric);
      if (!a || !b) return undefined;
      const [fa, fb] = [a.fn, b.fn];
      const eq = n.text === '=';
      return {
        fn: (row, p) => {
          const x = fa(row, p);
          if (x === NONE) return NONE;
          const y = fb(row, p);
          if (y === NONE) return NONE;
          return equal(x, y) === eq;
        },
        bool: true,
      };
    }
    case 'InequalityExpression': {
      const cmp = n.text ? COMPARE[n.text] : undefined;
      if (!cmp || n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!, numeric);
      const b = node(n.children[1]!, numeric);
      if (!a || !b) return undefined;
      const [fa, fb] = [a.fn, b.fn];
      return {
        fn: (row, p) => {
          // both sides first: fhirpath.js fails on a non-singleton operand even when the other is empty
          const x = fa(row, p);
          const y = fb(row, p);
          if (x === NONE || y === NONE) return NONE;
          // text with text or number with number; anything else is fhirpath.js's (its type error included)
          const t = typeof x;
          if (t !== typeof y || (t !== 'string' && t !== 'number')) throw FALLBACK;
          return cmp(x as string, y as string);
        },
        bool: true,
      };
    }
    case 'MembershipExpression': {
      if (n.text !== 'in' || n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!, numeric);
      const list = literalList(n.children[1]!);
      if (!a || !list) return undefined;
      const fa = a.fn;
      return {
        fn: (row, p) => {
          const x = fa(row, p);
          if (x === NONE) return NONE;
          for (const y of list) if (equal(x, y)) return true;
          return false;
        },
        bool: true,
      };
    }
    case 'AndExpression':
    case 'OrExpression': {
      if (n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!, numeric);
      const b = node(n.children[1]!, numeric);
      if (!a?.bool || !b?.bool) return undefined;
      const [fa, fb] = [a.fn, b.fn];
      // Three-valued logic: NONE is "unknown".
      return n.type === 'AndExpression'
        ? {
            fn: (row, p) => {
              const x = fa(row, p);
              if (x === false) return false;
              const y = fb(row, p);
              if (y === false) return false;
              return x === true && y === true ? true : NONE;
            },
            bool: true,
          }
        : {
            fn: (row, p) => {
              const x = fa(row, p);
              if (x === true) return true;
              const y = fb(row, p);
              if (y === true) return true;
              return x === false && y === false ? false : NONE;
            },
            bool: true,
          };
    }
    default:
      return undefined;
  }
}

function invocation(n: AstNode, numeric: ReadonlySet<unknown>): Compiled | undefined {
  if (n.children?.length !== 2) return undefined;
  const [head, tail] = n.children as [AstNode, AstNode];
  // %parent.column
  if (tail.type === 'MemberInvocation' && head.type === 'TermExpression' && only(head)?.type === 'ExternalConstantTerm') {
    if (only(head)!.text !== 'parent' || !tail.text || tail.text.startsWith('`')) return undefined;
    const col = tail.text;
    const read = numeric.has(tail) ? numberOfText : (v: unknown) => v;
    return { fn: (_row, p) => (p === undefined || p === null ? NONE : scalar(read(p[col]))), bool: false };
  }
  if (tail.type !== 'FunctionInvocation') return undefined;
  const functn = only(tail);
  if (functn?.type !== 'Functn') return undefined;
  const h = node(head, numeric);
  if (!h) return undefined;
  if (functn.children?.length === 2) return withArguments(functn, h.fn);
  if (functn.children?.length !== 1) return undefined;
  const name = functn.text;
  const fh = h.fn;
  switch (name) {
    case 'exists':
      return { fn: (row, p) => fh(row, p) !== NONE, bool: true };
    case 'empty':
      return { fn: (row, p) => fh(row, p) === NONE, bool: true };
    case 'not':
      if (!h.bool) return undefined;
      return {
        fn: (row, p) => {
          const v = fh(row, p);
          return v === NONE ? NONE : !v;
        },
        bool: true,
      };
    default:
      return undefined;
  }
}

const COMPARE: Record<string, (x: string, y: string) => boolean> = {
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

/** Text of the input, NONE for empty; fhirpath.js's String singleton rule fails on anything else. */
function text(v: unknown): string | typeof NONE {
  if (v === NONE || typeof v === 'string') return v;
  throw FALLBACK;
}

/**
 * `x.matches('re')` and `x.substring(start[, length])` with literal arguments: the string functions
 * mappings call on a column per row. Same rules as fhirpath.js's strings.js (flags 'us' for matches).
 */
function withArguments(functn: AstNode, fh: Fn): Compiled | undefined {
  const args = functn.children![1]!;
  if (args.type !== 'ParamList') return undefined;
  const values = (args.children ?? []).map((a) =>
    a.type === 'TermExpression' && only(a)?.type === 'LiteralTerm' ? literal(only(a)!) : undefined,
  );
  if (values.some((v) => v === undefined)) return undefined;
  const lits = values.map((v) => v!.value);
  switch (functn.text) {
    case 'matches': {
      if (lits.length !== 1 || typeof lits[0] !== 'string' || lits[0] === '') return undefined;
      let re: RegExp;
      try {
        re = new RegExp(lits[0], 'us');
      } catch {
        return undefined; // fhirpath.js reports the bad pattern
      }
      return {
        fn: (row, p) => {
          const s = text(fh(row, p));
          return s === NONE ? NONE : re.test(s);
        },
        bool: true,
      };
    }
    case 'substring': {
      if (lits.length < 1 || lits.length > 2 || !lits.every((v) => typeof v === 'number' && Number.isInteger(v))) return undefined;
      const start = lits[0] as number;
      const end = lits.length === 2 ? start + (lits[1] as number) : undefined;
      return {
        fn: (row, p) => {
          const s = text(fh(row, p));
          if (s === NONE || start >= s.length) return NONE;
          return s.substring(start, end);
        },
        bool: false,
      };
    }
    default:
      return undefined;
  }
}

function literal(n: AstNode): { value: unknown } | undefined {
  const l = only(n);
  if (!l) return undefined;
  switch (l.type) {
    case 'StringLiteral': {
      const t = l.text ?? '';
      // escapes are left to fhirpath.js
      if (t.length < 2 || t.includes('\\')) return undefined;
      return { value: t.slice(1, -1) };
    }
    case 'NumberLiteral': {
      const v = Number(l.text);
      return Number.isFinite(v) && /^\d+(\.\d+)?$/.test(l.text ?? '') ? { value: v } : undefined;
    }
    case 'BooleanLiteral':
      return { value: l.text === 'true' };
    case 'NullLiteral':
      return { value: NONE };
    default:
      return undefined;
  }
}

/** `('a' | 'b' | 'c')` or a single literal, as values. */
function literalList(n: AstNode): unknown[] | undefined {
  let cur: AstNode | undefined = n;
  while (cur && (cur.type === 'TermExpression' || cur.type === 'ParenthesizedTerm')) cur = only(cur);
  if (!cur) return undefined;
  if (cur.type === 'LiteralTerm') {
    const l = literal(cur);
    return l && l.value !== NONE ? [l.value] : undefined;
  }
  if (cur.type !== 'UnionExpression' || cur.children?.length !== 2) return undefined;
  const a = literalList(cur.children[0]!);
  const b = literalList(cur.children[1]!);
  return a && b ? [...a, ...b] : undefined;
}

/** FHIRPath `=` on two scalars: same type and value (numbers compare numerically, strings exactly). */
function equal(x: unknown, y: unknown): boolean {
  return x === y;
}
