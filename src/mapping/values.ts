// Template values → evaluators. Everything that can be decided once per file is decided here (template
// splitting, FHIRPath compilation, lookup and child resolution, coercer choice) so that an evaluator only
// reads the row and builds output. Evaluators return undefined for "left out"; they never return an empty
// string, array or object.
import type { Row } from '../connectors/types.js';
import type { SourceLocation } from '../errors.js';
import { CoercionError, makeCoercer, textOf, type Coercer } from './coerce.js';
import { AS_TYPES, DIRECTIVES, FORMS, isAsType, type AsType } from './vocabulary.js';
import { RowError, type CompileContext, type Eval, type RefSlot } from './context.js';
import { getZone } from './datetime.js';
import { compileExpression, isTrue, type CompiledExpression } from './fhirpath.js';
import { isPlainObject } from './lookups.js';
import type { Path } from './parse.js';
import { parseTemplate } from './template.js';

export interface Scope {
  /** the query whose row is `row` here: 'source', or the child name inside `$each` */
  query: string;
  inEach: boolean;
  /** FHIRPath-like path of the element, for row issues ('Patient.birthDate') */
  expression: string;
}

const OMIT: Eval = () => undefined;

/**
 * What an evaluator is made of, for the code generator (codegen.ts), which turns the usual nodes of a
 * template into one straight-line function instead of a tree of closure calls. An evaluator without a shape
 * is called as it is from the generated code, so every node keeps exactly one meaning: its closure.
 */
export type Shape =
  | { kind: 'object'; names: string[]; evals: Eval[] }
  | { kind: 'array'; items: Eval[] }
  | { kind: 'template'; refs: Array<{ column: string; parent: boolean }>; literals: string[] }
  | { kind: 'column'; column: string; parent: boolean; coerce: Coercer; fail: (e: unknown) => never }
  | { kind: 'when'; test: (row: Row, parent: Row | undefined) => boolean; inner: Eval }
  | { kind: 'if'; test: (row: Row, parent: Row | undefined) => boolean; then: Eval; otherwise: Eval }
  | { kind: 'first'; alts: Eval[] }
  | { kind: 'each'; child: string; template: Eval };

export const SHAPES = new WeakMap<Eval, Shape>();

function shaped(e: Eval, shape: Shape): Eval {
  SHAPES.set(e, shape);
  return e;
}

/**
 * Evaluators whose value does not depend on the row, with that value. An object or array made only of such
 * values is built once, frozen and shared by every resource instead of being rebuilt per row (most of a
 * template is constant: codings, systems, profiles). Frozen, so a stage that tried to edit a resource in
 * place would fail loudly instead of changing every other resource (stages copy what they change: _elements).
 */
export const CONSTANTS = new WeakMap<Eval, unknown>();

function constant(value: unknown): Eval {
  if (value === undefined) return OMIT;
  const frozen = deepFreeze(value);
  const e: Eval = () => frozen;
  CONSTANTS.set(e, frozen);
  return e;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** When every evaluator is constant, the value `build` makes of them, as a constant evaluator. */
function folded(evals: Eval[], build: Eval): Eval | undefined {
  if (!evals.every((e) => CONSTANTS.has(e))) return undefined;
  return constant(build({}, undefined, undefined));
}

export function compileValue(ctx: CompileContext, v: unknown, path: Path, scope: Scope): Eval {
  if (v === null || v === undefined) return OMIT;
  if (typeof v === 'string') return compileString(ctx, v, path, scope);
  if (typeof v === 'number' || typeof v === 'boolean') return constant(v);
  if (Array.isArray(v)) return compileArray(ctx, v, path, scope);
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.some((k) => k.startsWith('$'))) return compileDirective(ctx, v, path, scope);
    return compileObject(ctx, v, keys, path, scope);
  }
  ctx.error(path, `unsupported value ${String(v)}`);
  return OMIT;
}

function compileString(ctx: CompileContext, text: string, path: Path, scope: Scope): Eval {
  const tpl = parseTemplate(text);
  if (typeof tpl === 'string') {
    ctx.error(path, tpl);
    return OMIT;
  }
  if (tpl.constant !== undefined) return tpl.constant === '' ? OMIT : constant(tpl.constant);
  for (const r of tpl.refs) useRef(ctx, r.column, r.parent, path, scope);
  const render = tpl.render;
  return shaped((row, parent) => render(row, parent), { kind: 'template', refs: tpl.refs, literals: tpl.literals });
}

function useRef(ctx: CompileContext, column: string, parent: boolean, path: Path, scope: Scope, key?: boolean): void {
  if (parent && !scope.inEach) {
    ctx.error(path, `"parent.${column}" is only meaningful inside $each`, key);
    return;
  }
  // a resource's `when:` is compiled in the resource's scope; say so rather than name the whole resource
  const element = path[path.length - 1] === 'when' ? `${scope.expression} (when)` : scope.expression;
  ctx.useColumn(parent ? 'source' : scope.query, column, path, key, element);
}

function compileArray(ctx: CompileContext, list: unknown[], path: Path, scope: Scope): Eval {
  const items = list.map((item, i) => compileValue(ctx, item, [...path, i], scope)).filter((e) => e !== OMIT);
  if (items.length === 0) return OMIT;
  const n = items.length;
  const build: Eval = (row, parent, children) => {
    let out: unknown[] | undefined;
    for (let i = 0; i < n; i++) {
      const v = items[i]!(row, parent, children);
      if (v === undefined) continue;
      out ??= [];
      // $each / $fhirpath items yield arrays: they are spliced in (FHIR has no arrays of arrays).
      if (Array.isArray(v)) for (const x of v) out.push(x);
      else out.push(v);
    }
    return out;
  };
  return folded(items, build) ?? shaped(build, { kind: 'array', items });
}

function compileObject(ctx: CompileContext, obj: Record<string, unknown>, keys: string[], path: Path, scope: Scope): Eval {
  const names: string[] = [];
  const evals: Eval[] = [];
  for (const k of keys) {
    const e = compileValue(ctx, obj[k], [...path, k], { ...scope, expression: `${scope.expression}.${k}` });
    if (e === OMIT) continue;
    names.push(k);
    evals.push(e);
  }
  if (names.length === 0) return OMIT;
  const n = names.length;
  const build: Eval = (row, parent, children) => {
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < n; i++) {
      const v = evals[i]!(row, parent, children);
      if (v !== undefined) {
        out ??= {};
        out[names[i]!] = v;
      }
    }
    return out;
  };
  return folded(evals, build) ?? shaped(build, { kind: 'object', names, evals });
}

function compileCondition(ctx: CompileContext, v: unknown, path: Path, scope: Scope): CompiledExpression | undefined {
  if (typeof v !== 'string' || v.trim() === '') {
    ctx.error(path, 'expected a FHIRPath condition over the row, e.g. "stop.exists()"');
    return undefined;
  }
  return compileFhirPath(ctx, v, path, scope);
}

export function compileFhirPath(ctx: CompileContext, text: string, path: Path, scope: Scope): CompiledExpression | undefined {
  const expr = compileExpression(text);
  if (typeof expr === 'string') {
    ctx.error(path, expr);
    return undefined;
  }
  for (const c of expr.columns) useRef(ctx, c.column, c.parent, path, scope);
  return expr;
}

/** Evaluates a condition; a FHIRPath failure is a row error located at the condition. */
export function testCondition(
  expr: CompiledExpression,
  row: Row,
  parent: Row | undefined,
  location: SourceLocation,
  expression: string,
): boolean {
  try {
    return isTrue(expr.evaluate(row, parent));
  } catch (e) {
    throw new RowError('processing', `FHIRPath ${JSON.stringify(expr.text)} failed: ${(e as Error).message}`, location, expression);
  }
}

function compileDirective(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  if ('$when' in obj) {
    const cond = compileCondition(ctx, obj.$when, [...path, '$when'], scope);
    const rest = { ...obj };
    delete rest.$when;
    const inner = compileValue(ctx, rest, path, scope);
    if (!cond || inner === OMIT) return OMIT;
    const loc = ctx.at([...path, '$when'], true);
    const expression = scope.expression;
    const test = (row: Row, parent: Row | undefined): boolean => testCondition(cond, row, parent, loc, expression);
    return shaped((row, parent, children) => (test(row, parent) ? inner(row, parent, children) : undefined), { kind: 'when', test, inner });
  }
  const keys = Object.keys(obj);
  const forms = Object.keys(FORMS).filter((f) => f in obj);
  // `$lookup` with `$column` is the lookup form, not the column form.
  const form = forms.includes('$lookup') ? '$lookup' : forms[0];
  const unknown = keys.filter((k) => !DIRECTIVES.includes(k));
  for (const k of unknown) {
    ctx.error(
      [...path, k],
      k.startsWith('$')
        ? `unknown directive "${k}": expected one of ${DIRECTIVES.join(', ')}`
        : `"${k}" cannot be mixed with directives (${keys.filter((x) => x.startsWith('$')).join(', ')}); only $when goes on ordinary objects`,
      true,
    );
  }
  if (!form) {
    const k = keys.find((x) => x.startsWith('$'))!;
    const needs =
      k === '$as' || k === '$tz'
        ? '$column or $fhirpath'
        : k === '$key' || k === '$resourceType'
          ? '$ref'
          : k === '$template'
            ? '$each'
            : k === '$then' || k === '$else'
              ? '$if'
              : k === '$value'
                ? '$lookup'
                : 'a value form';
    ctx.error([...path, k], `"${k}" needs ${needs} beside it`, true);
    return OMIT;
  }
  const allowed: string[] = [form, ...FORMS[form as keyof typeof FORMS]];
  for (const k of keys) {
    if (k.startsWith('$') && DIRECTIVES.includes(k) && !allowed.includes(k)) {
      ctx.error([...path, k], `"${k}" does not go with "${form}" (it accepts ${allowed.join(', ')})`, true);
    }
  }
  if (unknown.length > 0) return OMIT;
  switch (form) {
    case '$column':
      return compileColumn(ctx, obj, path, scope);
    case '$fhirpath':
      return compileFhirPathValue(ctx, obj, path, scope);
    case '$lookup':
      return compileLookupValue(ctx, obj, path, scope);
    case '$ref':
      return compileRef(ctx, obj, path, scope);
    case '$each':
      return compileEach(ctx, obj, path, scope);
    case '$if':
      return compileIf(ctx, obj, path, scope);
    case '$first':
      return compileFirst(ctx, obj, path, scope);
    case '$literal':
      return compileLiteral(obj.$literal);
  }
  return OMIT;
}

function coercerOf(ctx: CompileContext, obj: Record<string, unknown>, path: Path): Coercer | undefined {
  let as: AsType = 'string';
  if (obj.$as !== undefined) {
    if (!isAsType(obj.$as)) {
      ctx.error([...path, '$as'], `unknown type ${JSON.stringify(obj.$as)}: expected one of ${AS_TYPES.join(', ')}`);
      return undefined;
    }
    as = obj.$as;
  }
  let zone = ctx.zone;
  if (obj.$tz !== undefined) {
    try {
      zone = getZone(String(obj.$tz));
    } catch {
      ctx.error([...path, '$tz'], `unknown time zone ${JSON.stringify(obj.$tz)}: expected an IANA name such as America/New_York`);
      return undefined;
    }
  }
  return makeCoercer(as, zone);
}

function parseColumnName(ctx: CompileContext, v: unknown, path: Path): { column: string; parent: boolean } | undefined {
  if (typeof v !== 'string' || v.trim() === '') {
    ctx.error(path, 'expected a column name');
    return undefined;
  }
  const name = v.trim();
  const parent = /^parent\./i.test(name);
  return { column: (parent ? name.slice(7) : name).trim().toLowerCase(), parent };
}

function compileColumn(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  const ref = parseColumnName(ctx, obj.$column, [...path, '$column']);
  const coerce = coercerOf(ctx, obj, path);
  if (!ref || !coerce) return OMIT;
  useRef(ctx, ref.column, ref.parent, [...path, '$column'], scope);
  const { column, parent: fromParent } = ref;
  const loc = ctx.at([...path, '$column'], true);
  const expression = scope.expression;
  const fail = (e: unknown): never => {
    if (e instanceof CoercionError) throw new RowError('value', `${e.message} in column ${column}`, loc, expression, column);
    throw e;
  };
  const shape: Shape = { kind: 'column', column, parent: fromParent, coerce, fail };
  return fromParent
    ? shaped((_row, parent) => {
        try {
          return coerce(parent?.[column]);
        } catch (e) {
          return fail(e);
        }
      }, shape)
    : shaped((row) => {
        try {
          return coerce(row[column]);
        } catch (e) {
          return fail(e);
        }
      }, shape);
}

function compileFhirPathValue(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  if (typeof obj.$fhirpath !== 'string' || obj.$fhirpath.trim() === '') {
    ctx.error([...path, '$fhirpath'], 'expected a FHIRPath expression over the row');
    return OMIT;
  }
  const expr = compileFhirPath(ctx, obj.$fhirpath, [...path, '$fhirpath'], scope);
  const coerce = obj.$as === undefined ? undefined : coercerOf(ctx, obj, path);
  if (!expr || (obj.$as !== undefined && !coerce)) return OMIT;
  const loc = ctx.at([...path, '$fhirpath'], true);
  const expression = scope.expression;
  // The column at fault, when the expression reads exactly one.
  const cols = new Set(expr.columns.map((c) => c.column));
  const column = cols.size === 1 ? [...cols][0] : undefined;
  const one = (v: unknown): unknown => {
    if (coerce) {
      try {
        return coerce(v);
      } catch (e) {
        if (e instanceof CoercionError)
          throw new RowError('value', `${e.message} (from ${JSON.stringify(expr.text)})`, loc, expression, column);
        throw e;
      }
    }
    return v === '' || v === null ? undefined : v;
  };
  return (row, parent) => {
    let res: unknown[];
    try {
      res = expr.evaluate(row, parent);
    } catch (e) {
      throw new RowError('processing', `FHIRPath ${JSON.stringify(expr.text)} failed: ${(e as Error).message}`, loc, expression);
    }
    if (res.length === 0) return undefined;
    if (res.length === 1) return one(res[0]);
    const out: unknown[] = [];
    for (const r of res) {
      const v = one(r);
      if (v !== undefined) out.push(v);
    }
    return out.length > 0 ? out : undefined;
  };
}

function compileLookupValue(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  const name = obj.$lookup;
  const lookup = typeof name === 'string' ? ctx.lookups.get(name) : undefined;
  if (!lookup) {
    const known = [...ctx.lookups.keys()];
    ctx.error(
      [...path, '$lookup'],
      `unknown lookup ${JSON.stringify(name)}: ${known.length ? `expected one of ${known.join(', ')}` : 'this mapping declares no lookups'}`,
    );
  }
  if ('$column' in obj === '$value' in obj) {
    ctx.error(path, '$lookup needs exactly one of $column (a column) or $value (a string template)');
    return OMIT;
  }
  let input: Eval | undefined;
  let column: string | undefined;
  if ('$column' in obj) {
    const ref = parseColumnName(ctx, obj.$column, [...path, '$column']);
    if (ref) {
      useRef(ctx, ref.column, ref.parent, [...path, '$column'], scope);
      const c = ref.column;
      column = c;
      input = ref.parent ? (_r, p) => p?.[c] : (r) => r[c];
    }
  } else if (typeof obj.$value === 'string') {
    input = compileString(ctx, obj.$value, [...path, '$value'], scope);
  } else {
    ctx.error([...path, '$value'], 'expected a string template such as "{CODE}"');
  }
  if (!lookup || !input) return OMIT;
  const { entries, fallback, ignoreCase, hasDefault } = lookup;
  // entries are shared by every resource, like constants (see CONSTANTS)
  for (const v of entries.values()) deepFreeze(v);
  deepFreeze(fallback);
  const loc = ctx.at([...path, '$lookup'], true);
  const expression = scope.expression;
  const read = input;
  const lookupName = lookup.name;
  return (row, parent, children) => {
    const raw = read(row, parent, children);
    const text = textOf(raw);
    if (text === undefined) return undefined;
    let v = entries.get(ignoreCase ? text.toLowerCase() : text);
    if (v === undefined) {
      if (!hasDefault) {
        throw new RowError(
          'code-invalid',
          `no entry for ${JSON.stringify(text)} in lookup "${lookupName}"${column ? ` (column ${column})` : ''} and the lookup has no default`,
          loc,
          expression,
          column,
        );
      }
      v = fallback;
    }
    if (v === null || v === '') return undefined;
    return v;
  };
}

function compileRef(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  if (typeof obj.$ref !== 'string' || obj.$ref.trim() === '') {
    ctx.error([...path, '$ref'], 'expected the name of a mapping in the set');
    return OMIT;
  }
  if (obj.$key === undefined) {
    ctx.error(path, "$ref needs $key: the columns of this row holding the target mapping's key, e.g. [PATIENT]");
    return OMIT;
  }
  const rawKeys = Array.isArray(obj.$key) ? obj.$key : [obj.$key];
  const cols: Array<{ column: string; parent: boolean }> = [];
  rawKeys.forEach((k, i) => {
    const p = Array.isArray(obj.$key) ? [...path, '$key', i] : [...path, '$key'];
    const ref = parseColumnName(ctx, k, p);
    if (ref) {
      useRef(ctx, ref.column, ref.parent, p, scope);
      cols.push(ref);
    }
  });
  if (obj.$resourceType !== undefined && typeof obj.$resourceType !== 'string') {
    ctx.error([...path, '$resourceType'], 'expected a resourceType the target mapping makes');
  }
  if (cols.length !== rawKeys.length) return OMIT;
  const slot: RefSlot = {
    target: obj.$ref.trim(),
    resourceType: typeof obj.$resourceType === 'string' ? obj.$resourceType : undefined,
    arity: cols.length,
    location: ctx.at([...path, '$ref'], true),
    reference: undefined,
  };
  ctx.refs.push(slot);
  const n = cols.length;
  const expression = scope.expression;
  return (row, parent) => {
    const key: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = cols[i]!;
      const v = c.parent ? parent?.[c.column] : row[c.column];
      if (v === null || v === undefined || v === '') return undefined;
      key[i] = v;
    }
    const ref = slot.reference!(key);
    if (ref === undefined) {
      throw new RowError(
        'value',
        `$ref ${slot.target}: key ${JSON.stringify(key)} gives no valid FHIR id`,
        slot.location,
        expression,
        cols[0]!.column,
      );
    }
    return ref;
  };
}

function compileEach(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  const name = obj.$each;
  if (scope.inEach && obj.$on === undefined) {
    ctx.error(
      [...path, '$each'],
      '$each inside $each needs $on: { INNER_COLUMN: OUTER_COLUMN } (child rows have no children of their own; the inner $each takes the rows of another child that match the outer row)',
    );
    return OMIT;
  }
  if (!scope.inEach && obj.$on !== undefined) {
    ctx.error(
      [...path, '$on'],
      '$on matches the rows of an inner $each to the row of the $each around it: it only goes inside $each',
      true,
    );
    return OMIT;
  }
  if (typeof name !== 'string' || !ctx.childNames.has(name)) {
    const known = [...ctx.childNames];
    ctx.error(
      [...path, '$each'],
      `unknown child ${JSON.stringify(name)}: ${known.length ? `expected one of ${known.join(', ')}` : 'declare it under "children:"'}`,
    );
    return OMIT;
  }
  if (obj.$template === undefined) {
    ctx.error(path, '$each needs $template: what each child row becomes');
    return OMIT;
  }
  const on = scope.inEach ? compileOn(ctx, obj.$on, [...path, '$on'], name, scope.query) : undefined;
  const tpl = compileValue(ctx, obj.$template, [...path, '$template'], { query: name, inEach: true, expression: scope.expression });
  if (tpl === OMIT || on === null) return OMIT;
  if (on) {
    // Inside an outer $each, `row` is the outer child row and `parent` the source row: the inner rows are
    // the `name` child rows of that source row whose `on` columns equal the outer row's (text-compared, as
    // a CSV and a typed database must group alike).
    return (row, parent, children) => {
      const rows = children?.[name];
      if (!rows || rows.length === 0) return undefined;
      let out: unknown[] | undefined;
      for (const child of rows) {
        if (!on.every(([inner, outer]) => sameValue(child[inner], row[outer]))) continue;
        const v = tpl(child, parent, children);
        if (v === undefined) continue;
        out ??= [];
        if (Array.isArray(v)) for (const x of v) out.push(x);
        else out.push(v);
      }
      return out;
    };
  }
  return shaped(
    (row, _parent, children) => {
      const rows = children?.[name];
      if (!rows || rows.length === 0) return undefined;
      let out: unknown[] | undefined;
      for (const child of rows) {
        const v = tpl(child, row, children);
        if (v === undefined) continue;
        out ??= [];
        if (Array.isArray(v)) for (const x of v) out.push(x);
        else out.push(v);
      }
      return out;
    },
    { kind: 'each', child: name, template: tpl },
  );
}

/** `$on: { INNER: OUTER }` of a nested $each: [inner column, outer column] pairs, lower-cased; null when malformed. */
function compileOn(ctx: CompileContext, v: unknown, path: Path, inner: string, outer: string): Array<[string, string]> | null {
  if (!isPlainObject(v) || Object.keys(v).length === 0) {
    ctx.error(path, 'expected { INNER_COLUMN: OUTER_COLUMN, ... }: the columns of the inner child that must equal those of the outer row');
    return null;
  }
  const pairs: Array<[string, string]> = [];
  for (const [k, o] of Object.entries(v)) {
    if (typeof o !== 'string' || o.trim() === '') {
      ctx.error([...path, k], 'expected the column of the outer row to match');
      return null;
    }
    const pair: [string, string] = [k.trim().toLowerCase(), o.trim().toLowerCase()];
    ctx.useColumn(inner, pair[0], [...path, k], true, `${path.filter((p) => typeof p === 'string').join('.')}`);
    ctx.useColumn(outer, pair[1], [...path, k], false, `${path.filter((p) => typeof p === 'string').join('.')}`);
    pairs.push(pair);
  }
  return pairs;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  return String(a) === String(b);
}

function compileIf(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  const cond = compileCondition(ctx, obj.$if, [...path, '$if'], scope);
  const then = compileValue(ctx, obj.$then, [...path, '$then'], scope);
  const otherwise = compileValue(ctx, obj.$else, [...path, '$else'], scope);
  if (!('$then' in obj) && !('$else' in obj)) ctx.error(path, '$if needs $then and/or $else');
  if (!cond) return OMIT;
  const loc = ctx.at([...path, '$if'], true);
  const expression = scope.expression;
  const test = (row: Row, parent: Row | undefined): boolean => testCondition(cond, row, parent, loc, expression);
  return shaped((row, parent, children) => (test(row, parent) ? then(row, parent, children) : otherwise(row, parent, children)), {
    kind: 'if',
    test,
    then,
    otherwise,
  });
}

function compileFirst(ctx: CompileContext, obj: Record<string, unknown>, path: Path, scope: Scope): Eval {
  if (!Array.isArray(obj.$first) || obj.$first.length === 0) {
    ctx.error([...path, '$first'], 'expected a list of alternatives');
    return OMIT;
  }
  const alts = obj.$first.map((a, i) => compileValue(ctx, a, [...path, '$first', i], scope));
  return shaped(
    (row, parent, children) => {
      for (const a of alts) {
        const v = a(row, parent, children);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    { kind: 'first', alts },
  );
}

function compileLiteral(v: unknown): Eval {
  const c = prune(v);
  if (c === undefined) return OMIT;
  return constant(c);
}

/** Removes empty strings, arrays and objects (and what becomes empty) from a literal value. */
function prune(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return undefined;
  if (Array.isArray(v)) {
    const out = v.map(prune).filter((x) => x !== undefined);
    return out.length ? out : undefined;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    let any = false;
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (p !== undefined) {
        out[k] = p;
        any = true;
      }
    }
    return any ? out : undefined;
  }
  return v;
}

export { OMIT };
