// A compiler for the FHIRPath subset profile invariants are written in (paths, exists/empty/count/where/
// all/select, and/or/xor/implies, =/!=, `in` literal lists, string tests, memberOf) that runs on plain
// FHIR JSON, so that an invariant costs a few property reads instead of a fhirpath.js run (which builds a
// typed node for every value it touches: ~100 µs an invariant). Anything outside the subset is left to
// fhirpath.js: at compile time (undefined is returned), or at run time by throwing FALLBACK (a value the
// subset cannot type, e.g. a date comparison or a primitive carried only by its extension). The results
// equal fhirpath.js's on every official example (fhirpath-json.test.ts).
import fhirpath from 'fhirpath';
import { deepEqual } from './values.js';

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

export const FALLBACK = Symbol('fhirpath-json fallback');
/** Thrown when the answer needs what is not here (a value set that is not loaded): the invariant is not judged. */
export const UNDECIDABLE = Symbol('fhirpath-json undecidable');

export interface Env {
  resource: unknown;
  context: unknown;
  /** value set membership (memberOf); undefined when the value set is not known */
  memberOf?: (url: string, value: unknown) => boolean | undefined;
  /** FHIR type of the context value (`dateTime`, `Period`…), for `$this is T` / `$this as T` */
  contextType?: string;
}

type Coll = unknown[];
type Fn = (focus: Coll, env: Env, self: unknown) => Coll;

const EMPTY: Coll = [];
const TRUE: Coll = [true];
const FALSE: Coll = [false];
const bool = (b: boolean): Coll => (b ? TRUE : FALSE);

type Compiled = ((context: unknown, env: Env) => Coll) | undefined;
// Profiles repeat their base types' constraints (dom-2…dom-6 on every resource, per-1 on every Period
// path…) and parsing is the costly part (fhirpath.js's ANTLR parser): one compile per expression text.
const byExpression = new Map<string, Compiled>();

/** A JS evaluator for `expression`, or undefined when it is outside the subset. */
export function compileJsonPath(expression: string): Compiled {
  if (byExpression.has(expression)) return byExpression.get(expression);
  const fn = specialise(expression, compileExpression(expression));
  byExpression.set(expression, fn);
  return fn;
}

/** per-1, on every Period of every resource (encounters, claims, care plans…). */
const PERIOD_ORDER = 'start.hasValue().not() or end.hasValue().not() or (start <= end)';

/**
 * The hottest invariant's commonest case without the general evaluator's steps: when start and end are
 * both strings, the expression is `start <= end` (both hasValue() are true); any other shape of the
 * Period goes to the compiled expression, so the verdicts are the same (the agreement test covers per-1).
 */
function specialise(expression: string, general: Compiled): Compiled {
  if (expression !== PERIOD_ORDER || !general) return general;
  return (context, env) => {
    if (context !== null && typeof context === 'object') {
      const { start, end } = context as Record<string, unknown>;
      if (typeof start === 'string' && typeof end === 'string') {
        const [p, q] = comparableDates(start, end);
        return bool(p <= q);
      }
    }
    return general(context, env);
  };
}

function compileExpression(expression: string): Compiled {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expression) as AstNode;
  } catch {
    return undefined;
  }
  const fn = node(ast);
  if (!fn) return undefined;
  return (context, env) => fn([context], env, context);
}

function only(n: AstNode): AstNode | undefined {
  return n.children?.length === 1 ? n.children[0] : undefined;
}

/** The three-valued boolean of a collection: undefined for empty. */
function truth(c: Coll): boolean | undefined {
  if (c.length === 0) return undefined;
  if (c.length > 1) throw FALLBACK;
  const v = c[0];
  return typeof v === 'boolean' ? v : true;
}

function isPrimitive(v: unknown): v is string | number | boolean {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean';
}

/** Child values named `name` of every item (arrays flattened; a choice name finds its typed key). */
function navigate(focus: Coll, name: string, extName: string): Coll {
  // allocated only when something is found: most steps of most invariants find nothing
  let out: unknown[] | undefined;
  for (const item of focus) {
    if (item === null || typeof item !== 'object') continue;
    const o = item as Record<string, unknown>;
    if (name.charCodeAt(0) <= 90 && o.resourceType === name) {
      out ??= [];
      out.push(o);
      continue;
    }
    let v = o[name];
    if (v === undefined) {
      // A primitive present only through its extension exists for fhirpath.js, not for this subset.
      if (o[extName] !== undefined) throw FALLBACK;
      for (const k in o) {
        if (k.length > name.length && k.startsWith(name)) {
          const c = k.charCodeAt(name.length);
          if (c >= 65 && c <= 90) {
            v = o[k];
            break;
          }
        }
      }
      if (v === undefined) continue;
    }
    out ??= [];
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null) out.push(x);
    } else out.push(v);
  }
  return out ?? EMPTY;
}

function equal(a: Coll, b: Coll): Coll {
  if (a.length === 0 || b.length === 0) return EMPTY;
  if (a.length !== b.length) return FALSE;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (!isPrimitive(x) || !isPrimitive(y)) {
      if (typeof x === 'object' && typeof y === 'object' && deepEqual(x, y)) continue;
      if (typeof x !== typeof y) throw FALLBACK;
      return FALSE;
    }
    return FALSE;
  }
  return TRUE;
}

function literal(n: AstNode): Fn | undefined {
  const l = only(n);
  if (!l) return undefined;
  switch (l.type) {
    case 'StringLiteral': {
      const t = l.text ?? '';
      if (t.length < 2 || t.includes('\\')) return undefined;
      const v = [t.slice(1, -1)];
      return () => v;
    }
    case 'NumberLiteral': {
      const v = [Number(l.text)];
      if (!Number.isFinite(v[0])) return undefined;
      return () => v;
    }
    case 'BooleanLiteral':
      return l.text === 'true' ? () => TRUE : () => FALSE;
    case 'NullLiteral':
      return () => EMPTY;
    default:
      return undefined;
  }
}

function node(n: AstNode): Fn | undefined {
  switch (n.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
    case 'ParenthesizedTerm': {
      const c = only(n);
      return c ? node(c) : undefined;
    }
    case 'LiteralTerm':
      return literal(n);
    case 'ThisInvocation':
      return (_f, _e, self) => [self];
    case 'MemberInvocation': {
      const name = n.text;
      if (!name || name.startsWith('`')) return undefined;
      const extName = `_${name}`;
      return (focus) => navigate(focus, name, extName);
    }
    case 'ExternalConstantTerm': {
      const name = n.text;
      if (name === 'resource' || name === 'rootResource') return (_f, env) => [env.resource];
      if (name === 'context') return (_f, env) => [env.context];
      if (name === 'ucum') return () => ['http://unitsofmeasure.org'];
      return undefined;
    }
    case 'InvocationExpression':
      return invocation(n);
    case 'FunctionInvocation':
      // A function with no input before it applies to the focus (`where(use = 'home').empty()`).
      return call((focus) => focus, n, undefined);
    case 'TypeExpression': {
      // `$this is T` / `$this as T` on the context value, whose FHIR type the validator knows.
      const [subject, spec] = n.children ?? [];
      const target = spec?.text;
      if (!subject || !target || !TYPE_NAME.test(target) || (n.text !== 'is' && n.text !== 'as')) return undefined;
      const inner = only(subject);
      if (inner?.type !== 'InvocationTerm' || only(inner)?.type !== 'ThisInvocation') return undefined;
      const isTest = n.text === 'is';
      return (_f, env, self) => {
        const t = env.contextType;
        // System types (DateTime) also take FHIR instants and dates in fhirpath.js: only dateTime is certain.
        if (!t || (t !== 'dateTime' && t.toLowerCase() === target.toLowerCase()) || t === 'instant' || t === 'date') throw FALLBACK;
        const match = t.toLowerCase() === target.toLowerCase();
        return isTest ? bool(match) : match ? [self] : EMPTY;
      };
    }
    case 'MultiplicativeExpression': {
      if (n.children?.length !== 2 || !['*', 'mod', 'div'].includes(n.text ?? '')) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      const op = n.text;
      return (focus, env, self) => {
        const x = a(focus, env, self);
        const y = b(focus, env, self);
        if (x.length === 0 || y.length === 0) return EMPTY;
        if (x.length !== 1 || y.length !== 1 || !Number.isInteger(x[0]) || !Number.isInteger(y[0])) throw FALLBACK;
        const [p, q] = [x[0] as number, y[0] as number];
        if (op === '*') return [p * q];
        if (q === 0) return EMPTY;
        return op === 'mod' ? [p % q] : [Math.trunc(p / q)];
      };
    }
    case 'PolarityExpression': {
      const inner = only(n);
      const f = inner && node(inner);
      if (!f) return undefined;
      if (n.text !== '-') return f;
      return (focus, env, self) => {
        const v = f(focus, env, self);
        if (v.length === 0) return EMPTY;
        if (v.length !== 1 || typeof v[0] !== 'number') throw FALLBACK;
        return [-(v[0] as number)];
      };
    }
    case 'EqualityExpression': {
      if ((n.text !== '=' && n.text !== '!=') || n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      const negate = n.text === '!=';
      return (focus, env, self) => {
        const r = equal(a(focus, env, self), b(focus, env, self));
        if (!negate || r.length === 0) return r;
        return r[0] ? FALSE : TRUE;
      };
    }
    case 'InequalityExpression': {
      if (n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      const op = n.text;
      if (!a || !b) return undefined;
      return (focus, env, self) => {
        const x = a(focus, env, self);
        const y = b(focus, env, self);
        if (x.length === 0 || y.length === 0) return EMPTY;
        if (x.length !== 1 || y.length !== 1) throw FALLBACK;
        let p = x[0];
        let q = y[0];
        if (typeof p === 'string' && typeof q === 'string') [p, q] = comparableDates(p, q);
        // Other values (quantities, mixed precision dates) compare with rules fhirpath.js implements.
        if (typeof p !== 'number' || typeof q !== 'number') throw FALLBACK;
        return bool(op === '<' ? p < q : op === '>' ? p > q : op === '<=' ? p <= q : p >= q);
      };
    }
    case 'AdditiveExpression': {
      if ((n.text !== '+' && n.text !== '-') || n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      const plus = n.text === '+';
      return (focus, env, self) => {
        const x = a(focus, env, self);
        const y = b(focus, env, self);
        if (x.length === 0 || y.length === 0) return EMPTY;
        if (x.length !== 1 || y.length !== 1 || typeof x[0] !== 'number' || typeof y[0] !== 'number') throw FALLBACK;
        return [plus ? (x[0] as number) + (y[0] as number) : (x[0] as number) - (y[0] as number)];
      };
    }
    case 'MembershipExpression': {
      if (n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      const contains = n.text === 'contains';
      if (n.text !== 'in' && !contains) return undefined;
      return (focus, env, self) => {
        let x = a(focus, env, self);
        let list = b(focus, env, self);
        if (contains) [x, list] = [list, x];
        if (x.length === 0) return EMPTY;
        if (x.length !== 1 || !isPrimitive(x[0])) throw FALLBACK;
        for (const y of list) {
          if (!isPrimitive(y)) throw FALLBACK;
          if (y === x[0]) return TRUE;
        }
        return FALSE;
      };
    }
    case 'UnionExpression': {
      if (n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      return (focus, env, self) => {
        const out: unknown[] = [];
        for (const v of [...a(focus, env, self), ...b(focus, env, self)]) {
          if (!isPrimitive(v)) throw FALLBACK;
          if (!out.includes(v)) out.push(v);
        }
        return out;
      };
    }
    case 'AndExpression':
    case 'OrExpression':
    case 'ImpliesExpression': {
      if (n.children?.length !== 2) return undefined;
      const a = node(n.children[0]!);
      const b = node(n.children[1]!);
      if (!a || !b) return undefined;
      const op = n.type === 'ImpliesExpression' ? 'implies' : n.text;
      return (focus, env, self) => {
        const x = truth(a(focus, env, self));
        if (op === 'and') {
          if (x === false) return FALSE;
          const y = truth(b(focus, env, self));
          if (y === false) return FALSE;
          return x === true && y === true ? TRUE : EMPTY;
        }
        if (op === 'or') {
          if (x === true) return TRUE;
          const y = truth(b(focus, env, self));
          if (y === true) return TRUE;
          return x === false && y === false ? FALSE : EMPTY;
        }
        if (op === 'implies') {
          if (x === false) return TRUE;
          const y = truth(b(focus, env, self));
          if (y === true) return TRUE;
          return x === true && y === false ? FALSE : EMPTY;
        }
        if (op === 'xor') {
          const y = truth(b(focus, env, self));
          if (x === undefined || y === undefined) return EMPTY;
          return bool(x !== y);
        }
        throw FALLBACK;
      };
    }
    default:
      return undefined;
  }
}

const TYPE_NAME = /^[A-Za-z]+$/;

const DATE = /^\d{4}(-\d{2}(-\d{2})?)?$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The length of a DATE_TIME's `.fff` part (0 without one): what is left between the seconds and the zone. */
function fractionLength(dateTime: string): number {
  const zone = dateTime.charCodeAt(dateTime.length - 1) === 90 /* Z */ ? 1 : 6;
  return dateTime.length - 19 - zone;
}

/**
 * Two date/dateTime strings as numbers that order like FHIRPath orders them, when they have the same
 * precision (dates of the same length; dateTimes to the second with a zone and the same fraction digits).
 * Anything else (different precisions, which FHIRPath may call uncertain) throws FALLBACK.
 */
function comparableDates(a: string, b: string): [number, number] {
  if (DATE.test(a) && DATE.test(b) && a.length === b.length) {
    const n = (d: string): number => Number(d.replaceAll('-', ''));
    return [n(a), n(b)];
  }
  if (DATE_TIME.test(a) && DATE_TIME.test(b) && fractionLength(a) === fractionLength(b)) {
    const ta = Date.parse(a);
    const tb = Date.parse(b);
    if (Number.isFinite(ta) && Number.isFinite(tb)) return [ta, tb];
  }
  throw FALLBACK;
}

function invocation(n: AstNode): Fn | undefined {
  if (n.children?.length !== 2) return undefined;
  const [head, tail] = n.children as [AstNode, AstNode];
  const h = node(head);
  if (!h) return undefined;
  if (tail.type === 'MemberInvocation') {
    const name = tail.text;
    if (!name || name.startsWith('`')) return undefined;
    const extName = `_${name}`;
    return (focus, env, self) => navigate(h(focus, env, self), name, extName);
  }
  if (tail.type !== 'FunctionInvocation') return undefined;
  return call(h, tail, head);
}

function call(h: Fn, tail: AstNode, head: AstNode | undefined): Fn | undefined {
  const functn = only(tail);
  if (functn?.type !== 'Functn') return undefined;
  const name = functn.children?.[0]?.text;
  const params = functn.children?.[1]?.type === 'ParamList' ? (functn.children[1]!.children ?? []) : [];
  // value.ofType(Quantity): the JSON key says the type (valueQuantity).
  if (name === 'ofType' && params.length === 1) {
    if (!head) return undefined;
    const last = head.type === 'InvocationExpression' ? head.children?.[1] : only(only(head) ?? ({} as AstNode));
    const typeName = params[0]!.text ?? '';
    if (last?.type !== 'MemberInvocation' || !last.text || !TYPE_NAME.test(typeName)) return undefined;
    const key = last.text + typeName[0]!.toUpperCase() + typeName.slice(1);
    const before = head.type === 'InvocationExpression' ? node(head.children![0]!) : undefined;
    if (head.type === 'InvocationExpression' && !before) return undefined;
    return (focus, env, self) => {
      const base = before ? before(focus, env, self) : focus;
      const out: unknown[] = [];
      for (const item of base) {
        if (item === null || typeof item !== 'object') continue;
        const v = (item as Record<string, unknown>)[key];
        if (v === undefined) continue;
        if (Array.isArray(v)) out.push(...v);
        else out.push(v);
      }
      return out;
    };
  }
  const args = params.map(node);
  if (args.some((a) => !a)) return undefined;
  const arg = args as Fn[];
  const each = (c: Coll, env: Env, f: Fn): boolean[] =>
    c.map((item) => {
      const t = truth(f([item], env, item));
      return t === true;
    });
  const str = (c: Coll): string | undefined => {
    if (c.length === 0) return undefined;
    if (c.length !== 1 || typeof c[0] !== 'string') throw FALLBACK;
    return c[0];
  };
  switch (name) {
    case 'exists':
      if (arg.length === 0) return (f, e, s) => bool(h(f, e, s).length > 0);
      if (arg.length === 1) return (f, e, s) => bool(each(h(f, e, s), e, arg[0]!).some(Boolean));
      return undefined;
    case 'empty':
      return arg.length === 0 ? (f, e, s) => bool(h(f, e, s).length === 0) : undefined;
    case 'count':
      return arg.length === 0 ? (f, e, s) => [h(f, e, s).length] : undefined;
    case 'not':
      return arg.length === 0
        ? (f, e, s) => {
            const t = truth(h(f, e, s));
            return t === undefined ? EMPTY : bool(!t);
          }
        : undefined;
    case 'hasValue':
      return arg.length === 0
        ? (f, e, s) => {
            const c = h(f, e, s);
            return bool(c.length === 1 && isPrimitive(c[0]));
          }
        : undefined;
    case 'where':
      if (arg.length !== 1) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        const keep = each(c, e, arg[0]!);
        return c.filter((_, i) => keep[i]);
      };
    case 'all':
      if (arg.length !== 1) return undefined;
      return (f, e, s) => bool(each(h(f, e, s), e, arg[0]!).every(Boolean));
    case 'select':
      if (arg.length !== 1) return undefined;
      return (f, e, s) => h(f, e, s).flatMap((item) => arg[0]!([item], e, item));
    case 'first':
      return arg.length === 0 ? (f, e, s) => h(f, e, s).slice(0, 1) : undefined;
    case 'startsWith':
    case 'endsWith':
    case 'contains':
    case 'matches': {
      if (arg.length !== 1) return undefined;
      const regexes = new Map<string, RegExp>();
      return (f, e, s) => {
        const v = str(h(f, e, s));
        const p = str(arg[0]!(f, e, s));
        if (v === undefined || p === undefined) return EMPTY;
        if (name === 'startsWith') return bool(v.startsWith(p));
        if (name === 'endsWith') return bool(v.endsWith(p));
        if (name === 'contains') return bool(v.includes(p));
        let re = regexes.get(p);
        if (!re) {
          re = new RegExp(p, 'su');
          regexes.set(p, re);
        }
        return bool(re.test(v));
      };
    }
    case 'length':
      return arg.length === 0
        ? (f, e, s) => {
            const v = str(h(f, e, s));
            return v === undefined ? EMPTY : [v.length];
          }
        : undefined;
    case 'allTrue':
    case 'allFalse':
      if (arg.length !== 0) return undefined;
      return (f, e, s) => {
        const want = name === 'allTrue';
        for (const v of h(f, e, s)) {
          if (typeof v !== 'boolean') throw FALLBACK;
          if (v !== want) return FALSE;
        }
        return TRUE;
      };
    case 'toString':
      if (arg.length !== 0) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        if (c.length === 0) return EMPTY;
        if (c.length !== 1 || (typeof c[0] !== 'string' && typeof c[0] !== 'boolean')) throw FALLBACK;
        return [String(c[0])];
      };
    case 'toInteger':
      if (arg.length !== 0) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        if (c.length === 0) return EMPTY;
        if (c.length !== 1) throw FALLBACK;
        const v = c[0];
        if (typeof v === 'number' && Number.isInteger(v)) return [v];
        if (typeof v === 'string') return /^[+-]?\d+$/.test(v) ? [Number(v)] : EMPTY;
        throw FALLBACK;
      };
    case 'substring':
      if (arg.length !== 1 && arg.length !== 2) return undefined;
      return (f, e, s) => {
        const v = str(h(f, e, s));
        const start = arg[0]!(f, e, s);
        const len = arg[1]?.(f, e, s);
        if (v === undefined || start.length !== 1 || typeof start[0] !== 'number') return EMPTY;
        if (len && (len.length !== 1 || typeof len[0] !== 'number')) throw FALLBACK;
        const i = start[0] as number;
        if (i < 0 || i >= v.length) return EMPTY;
        return [len ? v.substr(i, len[0] as number) : v.slice(i)];
      };
    case 'iif':
      if (arg.length !== 2 && arg.length !== 3) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        if (c.length > 1) throw FALLBACK;
        const focus = c.length === 1 ? c : f;
        const self = c.length === 1 ? c[0] : s;
        const t = truth(arg[0]!(focus, e, self));
        if (t === true) return arg[1]!(focus, e, self);
        return arg[2] ? arg[2](focus, e, self) : EMPTY;
      };
    case 'subsetOf':
    case 'intersect':
    case 'combine':
      if (arg.length !== 1) return undefined;
      return (f, e, s) => {
        const a = h(f, e, s);
        // the argument is evaluated against the same focus as the function's input ($this of the caller)
        const b = arg[0]!(f, e, s);
        const inB = (x: unknown): boolean => b.some((y) => x === y || (typeof x === 'object' && typeof y === 'object' && deepEqual(x, y)));
        if (name === 'subsetOf') return bool(a.every(inB));
        if (name === 'combine') return [...a, ...b];
        const out: unknown[] = [];
        for (const x of a) if (inB(x) && !out.some((y) => y === x || deepEqual(x, y))) out.push(x);
        return out;
      };
    case 'isDistinct':
      if (arg.length !== 0) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        for (let i = 0; i < c.length; i++) for (let j = i + 1; j < c.length; j++) if (c[i] === c[j] || deepEqual(c[i], c[j])) return FALSE;
        return TRUE;
      };
    case 'memberOf':
      if (arg.length !== 1) return undefined;
      return (f, e, s) => {
        const c = h(f, e, s);
        const url = str(arg[0]!(f, e, s));
        if (c.length === 0 || url === undefined) return EMPTY;
        if (c.length !== 1 || !e.memberOf) throw FALLBACK;
        const r = e.memberOf(url, c[0]);
        if (r === undefined) throw UNDECIDABLE;
        return bool(r);
      };
    default:
      return undefined;
  }
}
