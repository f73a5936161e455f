// Mapping-time type checks of template values against the FHIR type of their element: what a value form
// yields (a string template always yields text, `$as: boolean` a JSON boolean, a literal what it is) must
// be something the element can hold, and a literal must be a valid value of the element's primitive type.
// These are certain at compile time, so they are MappingErrors at the value's line, before any row is read;
// what depends on row data (a `$column` without `$as`, `$fhirpath`, lookups) is left to export-time validation.
import type { Path } from './parse.js';
import { isPlainObject } from './lookups.js';
import { parseTemplate } from './template.js';
import { isAsType } from './vocabulary.js';

export interface ValueProblem {
  path: Path;
  message: string;
}

type JsonKind = 'boolean' | 'number' | 'string';

const NUMBER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal', 'integer64']);

/** The JSON kind of a FHIR primitive type (`System.String` is how the model names Extension.url and ids). */
export function jsonKindOf(type: string): JsonKind | undefined {
  if (type === 'boolean' || type === 'System.Boolean') return 'boolean';
  if (NUMBER_TYPES.has(type) || type === 'System.Integer' || type === 'System.Decimal') return 'number';
  if (isPrimitiveType(type)) return 'string';
  return undefined;
}

export function isPrimitiveType(type: string): boolean {
  return type.startsWith('System.') || /^[a-z]/.test(type);
}

// Literal formats, from the R4 datatypes page (regexes of the primitive types); a literal outside them is
// wrong on every row.
const FORMATS: Record<string, RegExp> = {
  code: /^[^\s]+( [^\s]+)*$/,
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  uri: /^\S*$/,
  url: /^\S*$/,
  canonical: /^\S*$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  date: /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$/,
  dateTime:
    /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/,
  instant:
    /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/,
  time: /^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$/,
};

/** `$as` types a value of `type` cannot take even though the JSON kind matches (a dateTime is no date). */
const AS_INTO: Record<string, string[]> = {
  date: ['date', 'string'],
  instant: ['instant'],
  time: ['time', 'string'],
  positiveInt: ['positiveInt'],
  unsignedInt: ['unsignedInt', 'positiveInt'],
  integer: ['integer', 'positiveInt', 'unsignedInt'],
};

function describeType(type: string): string {
  return type.startsWith('System.') ? type.slice('System.'.length).toLowerCase() : type;
}

/**
 * Problems of one template value (`v`, at `path`) for an element of primitive FHIR type `type` at `element`
 * (e.g. `Patient.active`). Directives whose result is known only at run time yield none.
 */
export function checkPrimitiveValue(element: string, type: string, v: unknown, path: Path, out: ValueProblem[]): void {
  const kind = jsonKindOf(type);
  if (kind === undefined) return;
  const t = describeType(type);
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      checkPrimitiveValue(element, type, x, [...path, i], out);
    });
    return;
  }
  if (typeof v === 'string') {
    const tpl = parseTemplate(v);
    if (typeof tpl !== 'string' && tpl.refs.length > 0) {
      if (kind !== 'string') {
        const col = /\{([^{}]+)\}/.exec(v)?.[1] ?? tpl.refs[0]!.column;
        out.push({
          path,
          message: `${element} is a ${t}: the text template ${JSON.stringify(v)} always yields a string (write { $column: ${col}, $as: ${t === 'decimal' || t === 'boolean' ? t : 'integer'} } instead)`,
        });
      }
      return;
    }
    if (kind !== 'string') {
      out.push({
        path,
        message: `${element} is a ${t}: ${JSON.stringify(v)} is a string (write it without quotes${kind === 'boolean' ? ': true or false' : ''})`,
      });
      return;
    }
    const format = FORMATS[t];
    if (format && !format.test(v)) out.push({ path, message: `${element} is a ${t}: ${JSON.stringify(v)} is not a valid ${t}` });
    return;
  }
  if (typeof v === 'boolean' || typeof v === 'number') {
    const got: JsonKind = typeof v === 'boolean' ? 'boolean' : 'number';
    // a number where text is expected is written as text by YAML-minded authors (`code: 11`); only the
    // kinds that can never be right are errors
    if (got !== kind && !(got === 'number' && kind === 'string')) {
      out.push({ path, message: `${element} is a ${t}: ${JSON.stringify(v)} is a ${got}` });
    }
    return;
  }
  if (!isPlainObject(v)) return;
  if ('$literal' in v) {
    checkPrimitiveValue(element, type, v.$literal, [...path, '$literal'], out);
    return;
  }
  if ('$if' in v) {
    if (v.$then !== undefined) checkPrimitiveValue(element, type, v.$then, [...path, '$then'], out);
    if (v.$else !== undefined) checkPrimitiveValue(element, type, v.$else, [...path, '$else'], out);
    return;
  }
  if ('$first' in v && Array.isArray(v.$first)) {
    v.$first.forEach((x, i) => {
      checkPrimitiveValue(element, type, x, [...path, '$first', i], out);
    });
    return;
  }
  if (('$column' in v || '$fhirpath' in v) && isAsType(v.$as)) {
    const as = v.$as;
    const asKind = jsonKindOf(as)!;
    const allowed = AS_INTO[t];
    if (asKind !== kind || (allowed && !allowed.includes(as))) {
      out.push({ path: [...path, '$as'], message: `${element} is a ${t}: $as: ${as} yields a ${as}, which it cannot hold` });
    }
    return;
  }
  if ('$each' in v) {
    // one value per child row, each made by $template
    if (v.$template !== undefined) checkPrimitiveValue(element, type, v.$template, [...path, '$template'], out);
    return;
  }
  if (!Object.keys(v).some((k) => k.startsWith('$') && k !== '$when')) {
    out.push({ path, message: `${element} is a ${t}: an object cannot be one` });
  }
}

/** A value that can never be an object of complex type `type` (a literal scalar or a text template). */
export function checkComplexValue(element: string, type: string, v: unknown, path: Path, out: ValueProblem[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      checkComplexValue(element, type, x, [...path, i], out);
    });
    return;
  }
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') {
    out.push({
      path,
      message: `${element} is a ${type}, an object: ${JSON.stringify(v)} cannot be one${type === 'CodeableConcept' ? ' (write { coding: [...] } or { text: ... })' : ''}`,
    });
  }
}
