// FHIRPath over source rows, compiled once per file. Column names are case-insensitive like everywhere in
// the language: root identifiers (and members of %parent) are rewritten to lower case before compiling,
// which also tells us which columns an expression reads (for `fhir-bridge validate`).
import fhirpath from 'fhirpath';
import type { Row } from '../connectors/types.js';
import { compileFast, FALLBACK } from './fhirpath-fast.js';
import { columnsUsedAsNumbers, FHIRPATH_FUNCTIONS, withNumericReads } from './numeric-text.js';
import { closest } from './suggest.js';

export interface ExprColumn {
  column: string;
  parent: boolean;
  /** 1-based line/column of the identifier inside the expression text */
  line: number;
  col: number;
}

export interface CompiledExpression {
  text: string;
  columns: ExprColumn[];
  evaluate(row: Row, parent: Row | undefined): unknown[];
}

interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  start?: { line: number; column: number };
  length?: number;
  children?: AstNode[];
}

/**
 * Compiles an expression; returns the parser's message when it is not valid FHIRPath. `fast: false` (for
 * tests) evaluates every value with fhirpath.js, to compare the JS-compiled subset against.
 */
export function compileExpression(text: string, options: { fast?: boolean } = {}): CompiledExpression | string {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(text) as AstNode;
  } catch (e) {
    return `invalid FHIRPath ${JSON.stringify(text)}: ${cleanMessage((e as Error).message)}`;
  }
  // fhirpath.js only finds an unknown function when it calls it, row by row: `substrng(...)` would fail
  // every row (or, under a condition, silently drop elements). Refuse it here, at compile time.
  const unknown = unknownFunctions(ast);
  if (unknown.length > 0) {
    return unknown
      .map((f) => `unknown FHIRPath function '${f.name}' at ${f.line}:${f.col} of ${JSON.stringify(text)}${hint(f.name)}`)
      .join('; ');
  }
  const columns: ExprColumn[] = [];
  collect(ast, false, columns);
  const rewritten = lowerCaseColumns(text, columns);
  const rewrittenAst = rewritten === text ? ast : (fhirpath.parse(rewritten) as AstNode);
  const numeric = columnsUsedAsNumbers(rewrittenAst);
  const fast = options.fast === false ? undefined : compileFast(rewrittenAst, numeric);
  const slowText = withNumericReads(rewritten, numeric);
  type Fn = (row: unknown, env?: Record<string, unknown>) => unknown;
  const compileSlow = () =>
    fhirpath.compile(slowText, undefined, { resolveInternalTypes: true, userInvocationTable: FHIRPATH_FUNCTIONS }) as Fn;
  // fhirpath.js is compiled up front only when it will run; for the fast subset it is compiled on the
  // first value outside the subset (once per expression), which halves the load time of big mapping sets.
  let fn: Fn | undefined;
  if (!fast) {
    try {
      fn = compileSlow();
    } catch (e) {
      return `invalid FHIRPath ${JSON.stringify(text)}: ${cleanMessage((e as Error).message)}`;
    }
  }
  // One env object per expression, refilled per call: evaluation is synchronous.
  const env: Record<string, unknown> = { parent: undefined };
  const slow = (row: Row, parent: Row | undefined): unknown[] => {
    env.parent = parent ?? null;
    fn ??= compileSlow();
    return fn(row, env) as unknown[];
  };
  if (!fast) return { text, columns, evaluate: slow };
  return {
    text,
    columns,
    evaluate(row, parent) {
      try {
        return fast(row, parent);
      } catch (e) {
        if (e !== FALLBACK) throw e;
        return slow(row, parent);
      }
    },
  };
}

/** The functions an expression calls that fhirpath.js does not implement, with 1-based line/column. */
function unknownFunctions(node: AstNode, out: Array<{ name: string; line: number; col: number }> = []) {
  if (node.type === 'FunctionInvocation' && node.text && node.start) {
    const name = node.text.startsWith('`') ? node.text.slice(1, -1) : node.text;
    if (!isKnownFunction(name)) out.push({ name, line: node.start.line, col: node.start.column });
  }
  for (const c of node.children ?? []) unknownFunctions(c, out);
  return out;
}

const known = new Map<string, boolean>();
/**
 * Whether fhirpath.js implements `name`. Its function table is not exported, so this asks the engine
 * itself, once per name: calling the function on an empty collection throws "Not implemented: <name>" only
 * for a function it does not have (a known one just answers, or warns about its arity, which is silenced).
 */
export function isKnownFunction(name: string): boolean {
  let ok = known.get(name);
  if (ok !== undefined) return ok;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    fhirpath.evaluate({}, `{}.${name}()`);
    ok = true;
  } catch (e) {
    ok = !/^Not implemented: /.test((e as Error).message);
  } finally {
    console.warn = warn;
  }
  known.set(name, ok);
  return ok;
}

/** Spec functions mappings use, for a "did you mean" (not the test of what is known: that is the engine). */
const COMMON_FUNCTIONS = [
  'empty',
  'exists',
  'all',
  'allTrue',
  'anyTrue',
  'allFalse',
  'anyFalse',
  'subsetOf',
  'supersetOf',
  'count',
  'distinct',
  'isDistinct',
  'where',
  'select',
  'repeat',
  'ofType',
  'single',
  'first',
  'last',
  'tail',
  'skip',
  'take',
  'intersect',
  'exclude',
  'union',
  'combine',
  'iif',
  'toBoolean',
  'convertsToBoolean',
  'toInteger',
  'convertsToInteger',
  'toDate',
  'convertsToDate',
  'toDateTime',
  'convertsToDateTime',
  'toDecimal',
  'convertsToDecimal',
  'toQuantity',
  'convertsToQuantity',
  'toString',
  'convertsToString',
  'toTime',
  'convertsToTime',
  'indexOf',
  'substring',
  'startsWith',
  'endsWith',
  'contains',
  'upper',
  'lower',
  'replace',
  'matches',
  'replaceMatches',
  'length',
  'toChars',
  'trim',
  'split',
  'join',
  'encode',
  'decode',
  'abs',
  'ceiling',
  'exp',
  'floor',
  'ln',
  'log',
  'power',
  'round',
  'sqrt',
  'truncate',
  'children',
  'descendants',
  'trace',
  'now',
  'timeOfDay',
  'today',
  'not',
  'is',
  'as',
  'sum',
  'min',
  'max',
  'avg',
  'hasValue',
  'aggregate',
];
function hint(name: string): string {
  const near = closest(
    name.toLowerCase(),
    COMMON_FUNCTIONS.map((f) => f.toLowerCase()),
  );
  return near ? ` (did you mean '${COMMON_FUNCTIONS.find((f) => f.toLowerCase() === near)}'?)` : '';
}

function cleanMessage(m: string): string {
  const i = m.indexOf(' expecting {');
  return (i > 0 ? m.slice(0, i) : m).replace(/\s+/g, ' ').trim();
}

/**
 * Root members (`stop` in `stop.exists()`, in `iif(a, b)`) are columns of the row; members after
 * `%parent.` are parent columns. Arguments of a method called on something (`x.where(y > 1)`) are evaluated
 * against that something, not the row, so their identifiers are not columns.
 */
function collect(node: AstNode, inMethodArgs: boolean, out: ExprColumn[]): void {
  if (node.type === 'InvocationExpression' && node.children && node.children.length === 2) {
    const [head, tail] = node.children as [AstNode, AstNode];
    if (isParentConstant(head) && tail.type === 'MemberInvocation' && tail.start && !inMethodArgs) {
      out.push(member(tail, true));
      return;
    }
    collect(head, inMethodArgs, out);
    collect(tail, true, out);
    return;
  }
  if (node.type === 'MemberInvocation' && node.atRoot && !inMethodArgs && node.start) {
    out.push(member(node, false));
    return;
  }
  for (const c of node.children ?? []) collect(c, inMethodArgs, out);
}

function member(node: AstNode, parent: boolean): ExprColumn {
  const raw = node.text ?? '';
  const name = raw.startsWith('`') ? raw.slice(1, -1) : raw;
  return { column: name.toLowerCase(), parent, line: node.start!.line, col: node.start!.column };
}

function isParentConstant(n: AstNode): boolean {
  let cur: AstNode | undefined = n;
  while (cur && cur.type !== 'ExternalConstantTerm') cur = cur.children?.length === 1 ? cur.children[0] : undefined;
  return cur?.text === 'parent';
}

/** Rewrites the identifiers found by `collect` to lower case (positions are 1-based line/column). */
function lowerCaseColumns(text: string, cols: ExprColumn[]): string {
  if (cols.every((c) => !/[A-Z]/.test(text.split('\n')[c.line - 1]?.substr(c.col - 1, c.column.length + 2) ?? ''))) return text;
  const lines = text.split('\n');
  for (const c of cols) {
    const line = lines[c.line - 1];
    if (line === undefined) continue;
    const at = c.col - 1;
    const len = line[at] === '`' ? c.column.length + 2 : c.column.length;
    lines[c.line - 1] = line.slice(0, at) + line.slice(at, at + len).toLowerCase() + line.slice(at + len);
  }
  return lines.join('\n');
}

/** FHIRPath boolean evaluation of a condition's result: empty or `false` → false, anything else → true. */
export function isTrue(result: unknown[]): boolean {
  return result.length > 0 && !(result.length === 1 && result[0] === false);
}
