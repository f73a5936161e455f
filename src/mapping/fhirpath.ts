// FHIRPath over source rows, compiled once per file. Column names are case-insensitive like everywhere in
// the language: root identifiers (and members of %parent) are rewritten to lower case before compiling,
// which also tells us which columns an expression reads (for `fhir-bridge validate`).
import fhirpath from 'fhirpath';
import type { Row } from '../connectors/types.js';
import { compileFast, FALLBACK } from './fhirpath-fast.js';

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

/** Compiles an expression; returns the parser's message when it is not valid FHIRPath. */
export function compileExpression(text: string): CompiledExpression | string {
  let ast: AstNode;
  try {
    ast = fhirpath.parse(text) as AstNode;
  } catch (e) {
    return `invalid FHIRPath ${JSON.stringify(text)}: ${cleanMessage((e as Error).message)}`;
  }
  const columns: ExprColumn[] = [];
  collect(ast, false, columns);
  const rewritten = lowerCaseColumns(text, columns);
  const fast = compileFast(rewritten === text ? ast : fhirpath.parse(rewritten));
  type Fn = (row: unknown, env?: Record<string, unknown>) => unknown;
  const compileSlow = () => fhirpath.compile(rewritten, undefined, { resolveInternalTypes: true }) as Fn;
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
