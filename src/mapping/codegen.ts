// A resource template compiled to one specialised function (the way ajv and fast-json-stringify compile
// schemas): the template's objects, arrays, string templates, `$column`s, `$when`/`$if`/`$first` and
// `$each` become straight-line code with fixed property names, instead of a tree of closures each called
// through a generic loop. Only the shape of the code comes from the YAML: every column name, property name
// and literal text is emitted as a JSON.stringify'd string literal, and every value (constants, coercers,
// lookups, FHIRPath tests, row-error reporters) is passed in by index, never spliced into the source.
// Anything the generator does not know is called as the interpreter's closure, so both paths share one
// meaning per node; `engine-equivalence.test.ts` holds them to identical output on every shipped case.
import type { Row } from '../connectors/types.js';
import { textOf } from './coerce.js';
import type { Eval } from './context.js';
import { CONSTANTS, OMIT, SHAPES, type Shape } from './values.js';

/** Sets the template's elements on `res`, in template order, leaving out what evaluates to nothing. */
export type Fill = (res: Record<string, unknown>, row: Row, children: Record<string, Row[]> | undefined) => void;

/** The interpreter's way: each top-level evaluator in turn. */
export function interpretedFill(names: string[], evals: Eval[]): Fill {
  return (res, row, children) => {
    for (let i = 0; i < names.length; i++) {
      const val = evals[i]!(row, undefined, children);
      if (val !== undefined) res[names[i]!] = val;
    }
  };
}

/** Above this many characters a top-level element gets a function of its own (V8 does not optimise very
 *  large functions; an EOB template is big). */
const SPLIT_CHARS = 6000;

/** The compiled fill of a template, or undefined when it cannot be compiled (the interpreter then runs it). */
export function compiledFill(names: string[], evals: Eval[]): Fill | undefined {
  if (names.some(unsafeKey)) return undefined;
  const gen = new Generator();
  const helpers: string[] = [];
  const body: string[] = ['let t;'];
  names.forEach((name, i) => {
    const code = gen.value(evals[i]!, 't', 'row', 'undefined');
    const set = `if (t !== undefined) res[${JSON.stringify(name)}] = t;`;
    if (code.length > SPLIT_CHARS) {
      const fn = `g${helpers.length}`;
      helpers.push(`const ${fn} = function (row, children) { let t; ${code} return t; };`);
      body.push(`t = ${fn}(row, children); ${set}`);
    } else body.push(`${code} ${set}`);
  });
  const bind = gen.refs.map((_, i) => `const f${i} = F[${i}];`).join('\n');
  const source = `"use strict";\n${bind}\n${helpers.join('\n')}\nreturn function fill(res, row, children) {\n${body.join('\n')}\n};`;
  return new Function('F', 'T', source)(gen.refs, textOf) as Fill;
}

/** Keys a plain assignment would not store as an own property. */
function unsafeKey(name: string): boolean {
  return name === '__proto__';
}

class Generator {
  readonly refs: unknown[] = [];
  private readonly index = new Map<unknown, number>();
  private n = 0;

  /** The name a runtime value is bound to in the generated code. */
  ref(x: unknown): string {
    let i = this.index.get(x);
    if (i === undefined) {
      i = this.refs.length;
      this.refs.push(x);
      this.index.set(x, i);
    }
    return `f${i}`;
  }

  local(): string {
    return `v${this.n++}`;
  }

  /**
   * Statements that set `out` (declared by the caller) to what `e` gives for the row named by the JS
   * expression `r` and the parent row `p` ('undefined' outside `$each`); `children` is in scope.
   */
  value(e: Eval, out: string, r: string, p: string): string {
    if (e === OMIT) return `${out} = undefined;`;
    if (CONSTANTS.has(e)) return `${out} = ${this.ref(CONSTANTS.get(e))};`;
    const shape = SHAPES.get(e);
    const code = shape ? this.shaped(shape, out, r, p) : undefined;
    return code ?? `${out} = ${this.ref(e)}(${r}, ${p}, children);`;
  }

  private shaped(s: Shape, out: string, r: string, p: string): string | undefined {
    switch (s.kind) {
      case 'object': {
        if (s.names.some(unsafeKey)) return undefined;
        const o = this.local();
        const t = this.local();
        const parts = s.names.map(
          (name, i) =>
            `${this.value(s.evals[i]!, t, r, p)} if (${t} !== undefined) { if (${o} === undefined) ${o} = {}; ${o}[${JSON.stringify(name)}] = ${t}; }`,
        );
        return `{ let ${o}, ${t};\n${parts.join('\n')}\n${out} = ${o}; }`;
      }
      case 'array': {
        const a = this.local();
        const t = this.local();
        const parts = s.items.map((item) => `${this.value(item, t, r, p)} ${this.append(a, t, item)}`);
        return `{ let ${a}, ${t};\n${parts.join('\n')}\n${out} = ${a}; }`;
      }
      case 'template': {
        const texts = s.refs.map(() => this.local());
        let joined = '';
        s.literals.forEach((lit, i) => {
          if (lit !== '') joined += `${joined ? ' + ' : ''}${JSON.stringify(lit)}`;
          if (i < texts.length) joined += `${joined ? ' + ' : ''}${texts[i]}`;
        });
        // innermost first: each reference must have text, else the element is left out
        let code = `${out} = ${joined};`;
        for (let i = s.refs.length - 1; i >= 0; i--) {
          const ref = s.refs[i]!;
          code = `const ${texts[i]} = ${this.read(ref.column, ref.parent, r, p, 'T')}; if (${texts[i]} !== undefined) { ${code} }`;
        }
        return `${out} = undefined; { ${code} }`;
      }
      case 'column':
        return `try { ${out} = ${this.read(s.column, s.parent, r, p, this.ref(s.coerce))}; } catch (e) { ${this.ref(s.fail)}(e); }`;
      case 'when':
        return `if (${this.ref(s.test)}(${r}, ${p})) { ${this.value(s.inner, out, r, p)} } else ${out} = undefined;`;
      case 'if':
        return `if (${this.ref(s.test)}(${r}, ${p})) { ${this.value(s.then, out, r, p)} } else { ${this.value(s.otherwise, out, r, p)} }`;
      case 'first': {
        let code = '';
        for (let i = s.alts.length - 1; i >= 0; i--) {
          const alt = this.value(s.alts[i]!, out, r, p);
          code = code ? `${alt} if (${out} === undefined) { ${code} }` : alt;
        }
        return code;
      }
      case 'each': {
        const rows = this.local();
        const a = this.local();
        const k = this.local();
        const child = this.local();
        const t = this.local();
        return (
          `{ const ${rows} = children === undefined ? undefined : children[${JSON.stringify(s.child)}]; let ${a};\n` +
          `if (${rows} && ${rows}.length > 0) for (let ${k} = 0; ${k} < ${rows}.length; ${k}++) { const ${child} = ${rows}[${k}]; let ${t};\n` +
          `${this.value(s.template, t, child, r)} ${this.append(a, t, s.template)} }\n${out} = ${a}; }`
        );
      }
    }
  }

  /** `fn(row[column])` (or of the parent row's column; nothing without a parent). */
  private read(column: string, parent: boolean, r: string, p: string, fn: string): string {
    const name = JSON.stringify(column);
    if (!parent) return `${fn}(${r}[${name}])`;
    return p === 'undefined' ? `${fn}(undefined)` : `${fn}(${p}?.[${name}])`;
  }

  /** Adds a defined item to the array `a`; items that are arrays ($each, $fhirpath) are spliced in. */
  private append(a: string, t: string, item: Eval): string {
    const push = `if (${a} === undefined) ${a} = [];`;
    if (neverArray(item)) return `if (${t} !== undefined) { ${push} ${a}.push(${t}); }`;
    return `if (${t} !== undefined) { ${push} if (Array.isArray(${t})) { for (const x of ${t}) ${a}.push(x); } else ${a}.push(${t}); }`;
  }
}

/** Evaluators whose value is never an array (so an array item of them is pushed, not spliced). */
function neverArray(e: Eval): boolean {
  if (CONSTANTS.has(e)) return !Array.isArray(CONSTANTS.get(e));
  const kind = SHAPES.get(e)?.kind;
  return kind === 'object' || kind === 'template' || kind === 'column';
}

/** `keyOf` as one object literal (a fixed shape, built in one step); undefined when a name cannot be a literal key. */
export function compiledKeyOf(key: readonly string[]): ((row: Row) => Record<string, unknown>) | undefined {
  if (key.some(unsafeKey) || new Set(key).size !== key.length) return undefined;
  const fields = key.map((c) => `${JSON.stringify(c)}: row[${JSON.stringify(c)}] ?? null`).join(', ');
  return new Function(`"use strict"; return function keyOf(row) { return { ${fields} }; };`)() as (row: Row) => Record<string, unknown>;
}
