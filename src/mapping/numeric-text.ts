// A column used with a number in a mapping expression (`procedure_seq = 1`, `amount > 0`, `n in (1 | 2)`,
// `dispenses - 1`) reads text that spells a number as that number. Which JS type a SQL number arrives as
// depends on the driver (the Row contract in src/connectors/types.ts): PostgreSQL and MariaDB give BIGINT
// (ROW_NUMBER(), COUNT()) and NUMERIC as exact text, SQLite and DuckDB give numbers, CSV files only text.
// FHIRPath never equates a String with a number (`'1' = 1` is false, `'1' > 0` an error), so without this
// the same mapping would decide differently per source. The operand the author wrote is a number, so the
// reading is unambiguous; text compared with text stays text ('02134' is not 2134).
//
// Both evaluators apply it to the same AST nodes: the JS-compiled subset (fhirpath-fast.ts) reads those
// columns through `numberOfText`, and the text given to fhirpath.js calls NUMERIC_TEXT_FUNCTION on them.

interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  start?: { line: number; column: number };
  length?: number;
  children?: AstNode[];
}

/** FHIRPath's String → Decimal grammar (toDecimal()): no exponent, no spaces, no '.5'. */
const FHIRPATH_DECIMAL_RE = /^[+-]?\d+(\.\d+)?$/;

/** A string spelling a number as that number; anything else unchanged. */
export function numberOfText(value: unknown): unknown {
  return typeof value === 'string' && FHIRPATH_DECIMAL_RE.test(value) ? Number(value) : value;
}

/** The name of the fhirpath.js user function that applies `numberOfText` (see FHIRPATH_FUNCTIONS). */
export const NUMERIC_TEXT_FUNCTION = '_numberOfText';

/** fhirpath.js `userInvocationTable` entries for the text given to it by `withNumericReads`. */
export const FHIRPATH_FUNCTIONS = {
  [NUMERIC_TEXT_FUNCTION]: { fn: (inputs: unknown[]) => inputs.map(numberOfText), arity: { 0: [] } },
};

const NUMERIC_OPERATORS: Record<string, ReadonlySet<string>> = {
  EqualityExpression: new Set(['=', '!=', '~', '!~']),
  InequalityExpression: new Set(['<', '<=', '>', '>=']),
  AdditiveExpression: new Set(['+', '-']),
  MultiplicativeExpression: new Set(['*', '/', 'div', 'mod']),
};

function only(n: AstNode | undefined): AstNode | undefined {
  return n?.children?.length === 1 ? n.children[0] : undefined;
}

function unwrap(n: AstNode | undefined): AstNode | undefined {
  let cur = n;
  while (cur && (cur.type === 'TermExpression' || cur.type === 'ParenthesizedTerm')) cur = only(cur);
  return cur;
}

function isNumberLiteral(n: AstNode | undefined): boolean {
  const u = unwrap(n);
  if (u?.type === 'PolarityExpression') return isNumberLiteral(only(u));
  return u?.type === 'LiteralTerm' && only(u)?.type === 'NumberLiteral';
}

/** Whether a literal list (`(1 | 'a')`, or one literal) holds a number. */
function listHasNumber(n: AstNode | undefined): boolean {
  const u = unwrap(n);
  if (u?.type === 'UnionExpression') return (u.children ?? []).some(listHasNumber);
  return isNumberLiteral(u);
}

/** The member node naming a column when `n` is a column reference (`x`, `(x)`, `%parent.x`). */
function columnMember(n: AstNode | undefined): AstNode | undefined {
  let u = unwrap(n);
  if (u?.type === 'InvocationTerm') u = only(u);
  if (u?.type === 'MemberInvocation' && u.atRoot && u.start && u.length) return u;
  if (u?.type === 'InvocationExpression' && u.children?.length === 2) {
    const [head, tail] = u.children as [AstNode, AstNode];
    const constant = head.type === 'TermExpression' ? only(head) : undefined;
    const ofParent = constant?.type === 'ExternalConstantTerm' && constant.text === 'parent';
    if (ofParent && tail.type === 'MemberInvocation' && tail.start && tail.length) return tail;
  }
  return undefined;
}

/**
 * The member nodes of the columns `ast` uses with a number: an operand of a comparison or of arithmetic
 * whose other operand is a number literal, or the left side of `in` a list holding one. Identifiers inside
 * method arguments (`x.where(value > 1)`) are not columns of the row and are left alone.
 */
export function columnsUsedAsNumbers(ast: unknown): Set<unknown> {
  const out = new Set<unknown>();
  const walk = (n: AstNode, inMethodArgs: boolean): void => {
    const [a, b] = n.children ?? [];
    if (!inMethodArgs && a && b && n.children!.length === 2) {
      if (n.text !== undefined && NUMERIC_OPERATORS[n.type]?.has(n.text)) {
        const col = isNumberLiteral(b) ? columnMember(a) : isNumberLiteral(a) ? columnMember(b) : undefined;
        if (col) out.add(col);
      } else if (n.type === 'MembershipExpression') {
        const col =
          n.text === 'in' && listHasNumber(b) ? columnMember(a) : n.text === 'contains' && listHasNumber(a) ? columnMember(b) : undefined;
        if (col) out.add(col);
      }
    }
    if (n.type === 'InvocationExpression' && a && b) {
      walk(a, inMethodArgs);
      walk(b, true);
      return;
    }
    for (const c of n.children ?? []) walk(c, inMethodArgs);
  };
  walk(ast as AstNode, false);
  return out;
}

/** `text` (the text `ast` was parsed from) with NUMERIC_TEXT_FUNCTION called on each of `members`. */
export function withNumericReads(text: string, members: ReadonlySet<unknown>): string {
  if (members.size === 0) return text;
  const lines = text.split('\n');
  const ends = [...members]
    .map((m) => m as AstNode)
    .map((m) => ({ line: m.start!.line - 1, at: m.start!.column - 1 + m.length! }))
    // right to left, so earlier positions stay valid
    .sort((x, y) => y.line - x.line || y.at - x.at);
  for (const { line, at } of ends) {
    const l = lines[line]!;
    lines[line] = `${l.slice(0, at)}.${NUMERIC_TEXT_FUNCTION}()${l.slice(at)}`;
  }
  return lines.join('\n');
}
