// `$as` coercions: any adapter's value (text from CSV, numbers or numeric strings from SQL drivers, dates as
// text) → the FHIR JSON value, identical whatever the source. A value that cannot be coerced throws a
// CoercionError; the engine turns it into a row issue located at the template node.
import { FHIR_ID_RE } from '../fhir/id.js';
import { dateOfTimestamp, formatInstant, instantOf, parseTemporal, partialDateText, type Zone } from './datetime.js';
import type { AsType } from './vocabulary.js';

export class CoercionError extends Error {}

/** The value coerced, or undefined when it is absent (null, empty text): the element is left out. */
export type Coercer = (value: unknown) => unknown;

const CODE_RE = /^[^\s]+( [^\s]+)*$/;
const TIME_RE = /^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$/;
const DECIMAL_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+(\.0*)?$/;

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Text of a scalar the way every adapter agrees on it: numbers in JS canonical form, strings trimmed. */
export function textOf(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') {
    const t = v.trim();
    return t === '' ? undefined : t;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return String(v);
}

export function makeCoercer(as: AsType, zone: Zone): Coercer {
  switch (as) {
    case 'string':
    case 'uri':
    case 'url':
    case 'canonical':
    case 'markdown':
    case 'oid':
    case 'uuid':
    case 'base64Binary':
      return textOf;
    case 'code':
      return (v) => {
        const t = textOf(v);
        if (t !== undefined && !CODE_RE.test(t))
          throw new CoercionError(`${show(v)} is not a valid code (no tabs, line breaks or double spaces)`);
        return t;
      };
    case 'id':
      return (v) => {
        const t = textOf(v);
        if (t !== undefined && !FHIR_ID_RE.test(t)) throw new CoercionError(`${show(v)} is not a valid id (1-64 of A-Z a-z 0-9 - .)`);
        return t;
      };
    case 'time':
      return (v) => {
        let t = textOf(v);
        if (t === undefined) return undefined;
        if (/^\d{2}:\d{2}$/.test(t)) t += ':00';
        if (!TIME_RE.test(t)) throw new CoercionError(`${show(v)} is not a time (hh:mm:ss)`);
        return t;
      };
    case 'decimal':
      return toDecimal;
    case 'integer':
      return (v) => toInteger(v, -2147483648, 'integer');
    case 'positiveInt':
      return (v) => toInteger(v, 1, 'positiveInt');
    case 'unsignedInt':
      return (v) => toInteger(v, 0, 'unsignedInt');
    case 'boolean':
      return toBoolean;
    case 'date':
      return lastOne((v) => {
        if (isAbsent(v)) return undefined;
        const t = parseTemporal(v);
        if (typeof t === 'string') throw new CoercionError(`${show(v)} is not a date (${t})`);
        return t.kind === 'timestamp' ? dateOfTimestamp(t, zone) : partialDateText(t);
      });
    case 'dateTime':
      return lastOne((v) => {
        if (isAbsent(v)) return undefined;
        const t = parseTemporal(v);
        if (typeof t === 'string') throw new CoercionError(`${show(v)} is not a date or timestamp (${t})`);
        return t.kind === 'timestamp' ? formatInstant(instantOf(t, zone), t.frac, zone) : partialDateText(t);
      });
    case 'instant':
      return lastOne((v) => {
        if (isAbsent(v)) return undefined;
        const t = parseTemporal(v);
        if (typeof t === 'string') throw new CoercionError(`${show(v)} is not a timestamp (${t})`);
        if (t.kind !== 'timestamp') throw new CoercionError(`${show(v)} is not a timestamp (an instant needs a time of day)`);
        return formatInstant(instantOf(t, zone), t.frac, zone);
      });
  }
}

/**
 * A coercer that remembers its last input and answer: a template often formats the same column twice
 * (effectiveDateTime and issued from DATE), and parsing a timestamp is the costly part. Failures are not
 * remembered (they throw every time).
 */
function lastOne(coerce: Coercer): Coercer {
  let lastIn: unknown = Symbol('none');
  let lastOut: unknown;
  return (v) => {
    if (v === lastIn) return lastOut;
    const out = coerce(v);
    lastIn = v;
    lastOut = out;
    return out;
  };
}

/** meta.lastUpdated: an instant; a bare date (a DATE column) counts as its midnight in `zone`. */
export function makeLastUpdatedCoercer(zone: Zone): Coercer {
  const instant = makeCoercer('instant', zone);
  // rows written together share their change time: remembered like the other timestamp coercers
  return lastOne((v) => {
    if (isAbsent(v)) return undefined;
    const t = parseTemporal(v);
    if (typeof t !== 'string' && t.kind === 'date') {
      t.kind = 'timestamp';
      return formatInstant(instantOf(t, zone), '', zone);
    }
    return instant(v);
  });
}

function isAbsent(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === 'string' && v.trim() === '');
}

function toDecimal(v: unknown): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CoercionError(`${v} is not a finite decimal`);
    return v;
  }
  if (typeof v === 'bigint') return Number(v);
  const t = textOf(v);
  if (t === undefined) return undefined;
  if (!DECIMAL_RE.test(t)) throw new CoercionError(`${show(v)} is not a decimal number`);
  const n = Number(t);
  if (!Number.isFinite(n)) throw new CoercionError(`${show(v)} is out of range for a decimal`);
  // -0 would print as 0 anyway; keep the output stable.
  return n === 0 ? 0 : n;
}

function toInteger(v: unknown, min: number, type: string): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else {
    const t = textOf(v);
    if (t === undefined) return undefined;
    if (!INT_RE.test(t)) throw new CoercionError(`${show(v)} is not a whole number`);
    n = Number(t);
  }
  if (!Number.isInteger(n)) throw new CoercionError(`${show(v)} is not a whole number`);
  if (n < min || n > 2147483647) throw new CoercionError(`${show(v)} is out of range for ${type} (${min}..2147483647)`);
  return n === 0 ? 0 : n;
}

const TRUE = new Set(['true', 't', 'y', 'yes', '1']);
const FALSE = new Set(['false', 'f', 'n', 'no', '0']);

function toBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') {
    if (v === 1 || v === 1n) return true;
    if (v === 0 || v === 0n) return false;
    throw new CoercionError(`${String(v)} is not a boolean (1 or 0)`);
  }
  const t = textOf(v);
  if (t === undefined) return undefined;
  const l = t.toLowerCase();
  if (TRUE.has(l)) return true;
  if (FALSE.has(l)) return false;
  throw new CoercionError(`${show(v)} is not a boolean (true/false, t/f, y/n, yes/no, 1/0)`);
}
