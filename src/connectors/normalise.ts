// What every adapter does to a driver's row before handing it on: lower-cased keys and portable values.
import type { Row } from './types.js';

/** A value in the form the Row contract promises; drivers are configured to need this only rarely. */
export function portableValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  // A Date that slipped through is written as its UTC instant, never in the process' local time.
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  return value;
}

/** Builds rows from positional values with keys lower-cased once per query, not once per row. */
export function rowBuilder(columnNames: readonly string[]): (values: readonly unknown[]) => Row {
  const keys = columnNames.map((c) => c.toLowerCase());
  return (values) => {
    const row: Row = {};
    for (let i = 0; i < keys.length; i++) row[keys[i]!] = portableValue(values[i]);
    return row;
  };
}

/** A driver's row object with keys lower-cased and values made portable. */
export function normaliseRow(raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const key of Object.keys(raw)) row[key.toLowerCase()] = portableValue(raw[key]);
  return row;
}

/**
 * normaliseRow for a driver whose values are portable as it parses them (PostgreSQL's, with dates kept as
 * text): a row whose keys are lower case already is handed on as the driver made it, which the first row of a
 * result decides for every row (they share the result's columns). The copy per row was 1 % of an export's
 * CPU in a profile, and as much garbage as the rows themselves.
 */
export function lowerCaseKeys(): (raw: Record<string, unknown>) => Row {
  let asIs: boolean | undefined;
  return (raw) => {
    asIs ??= Object.keys(raw).every((k) => k === k.toLowerCase());
    return asIs ? raw : normaliseRow(raw);
  };
}

/** A number with leading zeros to `width` digits, for temporal text built from a driver's Date fields. */
export function zeroPad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Throws the signal's reason when it has been aborted (checked between rows). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
