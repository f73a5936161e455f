// Primitive type checks: the JSON type a primitive must have, the regex the R4 specification gives on its
// `value` element (profiles-types.json, extension structuredefinition-regex), and what a regex cannot say:
// real calendar days (2024-02-31), 32-bit integer ranges.
import type { Conformance } from './conformance.js';

/** Returns a message when `value` is not a valid `type`, else undefined. */
export type PrimitiveCheck = (value: unknown) => string | undefined;

const REGEX_EXT = 'http://hl7.org/fhir/StructureDefinition/regex';
const NUMBER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal', 'integer64']);
const DATE_TYPES = new Set(['date', 'dateTime', 'instant']);

// Gregorian calendar arithmetic (no Date object per value: dates are among the most frequent primitives).
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysInMonth = (year: number, month: number): number =>
  month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : (DAYS[month - 1] ?? 31);

/** The number written by the ASCII digits value[from..to) (called after the regex: they are digits). */
function digits(value: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + (value.charCodeAt(i) - 48);
  return n;
}

/** A date prefix `YYYY-MM-DD` names a day that exists (the regex accepts 2024-02-31); run after the
 *  type's regex, which makes those characters digits. */
export function realDay(value: string): boolean {
  if (value.length < 10) return true;
  return digits(value, 8, 10) <= daysInMonth(digits(value, 0, 4), digits(value, 5, 7));
}

export class Primitives {
  private readonly checks = new Map<string, PrimitiveCheck>();
  constructor(private readonly conformance: Conformance) {}

  /** The check for a primitive type code (`date`, `code`…), or undefined when `type` is not primitive. */
  check(type: string): PrimitiveCheck | undefined {
    let check = this.checks.get(type);
    if (!check) {
      check = this.build(type);
      if (!check) return undefined;
      this.checks.set(type, check);
    }
    return check;
  }

  isPrimitive(type: string): boolean {
    return this.conformance.baseDefinition(type)?.kind === 'primitive-type';
  }

  private build(type: string): PrimitiveCheck | undefined {
    const sd = this.conformance.baseDefinition(type);
    if (sd?.kind !== 'primitive-type') return undefined;
    const valueElement = sd.snapshot?.element.find((e) => e.path === `${type}.value`);
    const source = valueElement?.type?.[0]?.extension?.find((x) => x.url === REGEX_EXT)?.valueString;
    const regex = source ? new RegExp(`^(?:${source})$`) : undefined;
    const describe = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
    if (type === 'boolean') return (v) => (typeof v === 'boolean' ? undefined : `${describe(v)} is not a boolean`);
    if (NUMBER_TYPES.has(type)) {
      const integer = type !== 'decimal';
      const min = type === 'positiveInt' ? 1 : type === 'unsignedInt' ? 0 : -2147483648;
      return (v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) return `${describe(v)} is not a JSON number (${type})`;
        if (!integer) return undefined;
        if (!Number.isInteger(v)) return `${v} is not an integer (${type})`;
        if (v < min || v > 2147483647) return `${v} is out of range for ${type}`;
        return undefined;
      };
    }
    const dates = DATE_TYPES.has(type);
    return (v) => {
      if (typeof v !== 'string') return `${describe(v)} is not a JSON string (${type})`;
      if (v.length === 0) return `empty string is not a valid ${type} (leave the element out)`;
      if (regex && !regex.test(v)) return `${describe(v)} is not a valid ${type}`;
      if (dates && !realDay(v)) return `${describe(v)} is not a valid ${type} (no such day)`;
      return undefined;
    };
  }
}
