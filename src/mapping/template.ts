// String templates ("Patient/{PATIENT}", "{parent.CODE}", "{{literal}}"), split once at compile time into
// literal and column parts so that rendering is a plain concatenation.
import type { Row } from '../connectors/types.js';
import { textOf } from './coerce.js';

export interface ColumnRef {
  /** lower-cased column name */
  column: string;
  /** read from the parent row (inside `$each`) */
  parent: boolean;
}

export interface StringTemplate {
  /** the literal text when the template references no column */
  constant: string | undefined;
  refs: ColumnRef[];
  /** literal text around the refs (refs.length + 1 parts, braces unescaped) */
  literals: string[];
  /** undefined when any referenced value is null or empty (the element is then left out) */
  render(row: Row, parent: Row | undefined): string | undefined;
}

/** Splits a template; returns an error message (what is wrong and where in the text) when it is malformed. */
export function parseTemplate(text: string): StringTemplate | string {
  const literals: string[] = [];
  const refs: ColumnRef[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{') {
      if (text[i + 1] === '{') {
        lit += '{';
        i += 2;
        continue;
      }
      const end = text.indexOf('}', i + 1);
      const nextOpen = text.indexOf('{', i + 1);
      if (end < 0 || (nextOpen >= 0 && nextOpen < end)) {
        return `unclosed "{" at character ${i + 1} of template ${JSON.stringify(text)}: expected "{COLUMN}" (write "{{" for a literal brace)`;
      }
      const name = text.slice(i + 1, end).trim();
      if (name === '') return `empty "{}" at character ${i + 1} of template ${JSON.stringify(text)}: expected a column name`;
      const isParent = /^parent\./i.test(name);
      const column = (isParent ? name.slice(7) : name).trim().toLowerCase();
      if (column === '') return `"{${name}}" in template ${JSON.stringify(text)} names no column`;
      literals.push(lit);
      lit = '';
      refs.push({ column, parent: isParent });
      i = end + 1;
      continue;
    }
    if (c === '}' && text[i + 1] === '}') {
      lit += '}';
      i += 2;
      continue;
    }
    lit += c;
    i++;
  }
  literals.push(lit);
  return build(literals, refs);
}

function build(literals: string[], refs: ColumnRef[]): StringTemplate {
  if (refs.length === 0) {
    const constant = literals[0]!;
    return { constant, refs, literals, render: () => constant };
  }
  if (refs.length === 1) {
    const [before, after] = [literals[0]!, literals[1]!];
    const { column, parent } = refs[0]!;
    const bare = before === '' && after === '';
    return {
      constant: undefined,
      refs,
      literals,
      render: parent
        ? (_row, p) => {
            const t = p === undefined ? undefined : textOf(p[column]);
            return t === undefined ? undefined : bare ? t : before + t + after;
          }
        : (row) => {
            const t = textOf(row[column]);
            return t === undefined ? undefined : bare ? t : before + t + after;
          },
    };
  }
  const n = refs.length;
  const cols = refs.map((r) => r.column);
  const fromParent = refs.map((r) => r.parent);
  return {
    constant: undefined,
    refs,
    literals,
    render(row, p) {
      let out = literals[0]!;
      for (let k = 0; k < n; k++) {
        const src = fromParent[k] ? p : row;
        const t = src === undefined ? undefined : textOf(src[cols[k]!]);
        if (t === undefined) return undefined;
        out += t + literals[k + 1]!;
      }
      return out;
    },
  };
}
