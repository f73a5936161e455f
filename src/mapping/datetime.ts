// Dates and timestamps as the adapters hand them over ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS[.fff][+HH[:MM]]',
// ISO 8601) → FHIR date / dateTime / instant text, with IANA time zones through Intl (no tz dependency).
// Calendar arithmetic is done on integers (days since the epoch) so that a coercion allocates nothing but
// its result string; zone offsets are cached per zone and 15-minute bucket (all post-1970 transitions fall
// on such boundaries).

export interface Zone {
  readonly name: string;
  /** fixed offset in minutes (UTC and friends), or undefined for zones with rules */
  readonly fixed: number | undefined;
  readonly format: Intl.DateTimeFormat | undefined;
  readonly cache: Map<number, number>;
}

const zones = new Map<string, Zone>();
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Z', 'Etc/Universal', 'Universal', 'Zulu']);

/** The zone of an IANA name; throws RangeError for an unknown name. */
export function getZone(name: string | undefined): Zone {
  const key = name ?? 'UTC';
  let z = zones.get(key);
  if (z) return z;
  if (UTC_NAMES.has(key)) {
    z = { name: key, fixed: 0, format: undefined, cache: new Map() };
  } else {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: key,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    z = { name: key, fixed: undefined, format, cache: new Map() };
  }
  zones.set(key, z);
  return z;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const BUCKET = 15 * MINUTE;

/** Offset of `zone` from UTC in minutes at the instant `epochMs`. */
export function offsetAt(zone: Zone, epochMs: number): number {
  if (zone.fixed !== undefined) return zone.fixed;
  const cacheable = epochMs >= 0;
  const bucket = Math.floor(epochMs / BUCKET);
  if (cacheable) {
    const hit = zone.cache.get(bucket);
    if (hit !== undefined) return hit;
  }
  const probe = cacheable ? bucket * BUCKET : epochMs;
  let y = 0,
    mo = 0,
    d = 0,
    h = 0,
    mi = 0,
    s = 0,
    bc = false;
  for (const p of zone.format!.formatToParts(probe)) {
    switch (p.type) {
      case 'year':
        y = Number(p.value);
        break;
      case 'month':
        mo = Number(p.value);
        break;
      case 'day':
        d = Number(p.value);
        break;
      case 'hour':
        h = Number(p.value);
        break;
      case 'minute':
        mi = Number(p.value);
        break;
      case 'second':
        s = Number(p.value);
        break;
      case 'era':
        bc = p.value.startsWith('B');
        break;
    }
  }
  if (bc) y = 1 - y;
  const local = daysFromCivil(y, mo, d) * DAY + h * 3_600_000 + mi * MINUTE + s * 1000;
  // Seconds of historical LMT offsets are dropped: FHIR offsets have minute precision.
  const probeSecondFloor = Math.floor(probe / 1000) * 1000;
  const off = Math.round((local - probeSecondFloor) / MINUTE);
  if (cacheable) {
    if (zone.cache.size > 100_000) zone.cache.clear();
    zone.cache.set(bucket, off);
  }
  return off;
}

/**
 * The instant of a wall-clock time in `zone`. Ambiguous times (the repeated hour when clocks go back) take
 * the earlier instant; times in a gap (clocks go forward) are read with the offset before the gap, i.e.
 * moved forward by its length — the same as Temporal's 'compatible' disambiguation.
 */
export function localToEpoch(zone: Zone, localMs: number): number {
  if (zone.fixed !== undefined) return localMs - zone.fixed * MINUTE;
  const before = offsetAt(zone, localMs - DAY);
  const after = offsetAt(zone, localMs + DAY);
  const t1 = localMs - before * MINUTE;
  const t2 = localMs - after * MINUTE;
  const ok1 = offsetAt(zone, t1) === before;
  const ok2 = offsetAt(zone, t2) === after;
  if (ok1 && ok2) return Math.min(t1, t2);
  if (ok1) return t1;
  if (ok2) return t2;
  // In a gap: use the offset in force before it.
  return t1;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number, out: number[]): void {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  out[0] = yoe + era * 400 + (m <= 2 ? 1 : 0);
  out[1] = m;
  out[2] = d;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** A parsed date or timestamp. Reused between calls (see `parseTemporal`): copy what you keep. */
export interface Temporal {
  /** 'year' | 'month' | 'date' for partial dates, 'timestamp' otherwise */
  kind: 'year' | 'month' | 'date' | 'timestamp';
  y: number;
  m: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** fraction-of-second digits without trailing zeros ('' when none) */
  frac: string;
  /** explicit UTC offset in minutes, or undefined for a naive timestamp */
  offset: number | undefined;
}

const TS_RE =
  /^\s*(-?\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?)?)?)?\s*$/;

// 'DD-MON-YYYY' (CMS CCW RIF extracts, Oracle's default DATE text): a date.
const DMY_RE = /^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4})\s*$/;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

const scratch: Temporal = { kind: 'date', y: 0, m: 0, d: 0, h: 0, mi: 0, s: 0, frac: '', offset: undefined };

/**
 * Parses a date/timestamp value. Returns a shared scratch object (no allocation per call) or a string
 * saying what is wrong. JS Date objects are accepted as instants although adapters should not send them.
 */
export function parseTemporal(value: unknown): Temporal | string {
  const t = scratch;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) return 'an invalid Date';
    const days = Math.floor(ms / DAY);
    const rest = ms - days * DAY;
    const ymd = [0, 0, 0];
    civilFromDays(days, ymd);
    t.kind = 'timestamp';
    t.y = ymd[0]!;
    t.m = ymd[1]!;
    t.d = ymd[2]!;
    t.h = Math.floor(rest / 3_600_000);
    t.mi = Math.floor(rest / MINUTE) % 60;
    t.s = Math.floor(rest / 1000) % 60;
    t.frac = trimFrac(String(rest % 1000).padStart(3, '0'));
    t.offset = 0;
    return t;
  }
  if (typeof value !== 'string') return 'not a date or timestamp';
  for (let i = 0; i < MEMO_SIZE; i++) {
    if (memoIn[i] === value) {
      copyTemporal(memoOut[i]!, t);
      return t;
    }
  }
  const parsed = parseText(value, t);
  if (typeof parsed !== 'string') {
    memoIn[memoNext] = value;
    copyTemporal(parsed, memoOut[memoNext]!);
    memoNext = (memoNext + 1) % MEMO_SIZE;
  }
  return parsed;
}

// The last few texts parsed, with their results: a row formats the same column several times (its key,
// effectiveDateTime, issued) and neighbouring rows share timestamps. Copies, since `scratch` is reused.
const MEMO_SIZE = 4;
const memoIn: Array<string | undefined> = new Array<string | undefined>(MEMO_SIZE).fill(undefined);
const memoOut: Temporal[] = Array.from({ length: MEMO_SIZE }, () => ({ ...scratch }));
let memoNext = 0;

function copyTemporal(from: Temporal, to: Temporal): void {
  to.kind = from.kind;
  to.y = from.y;
  to.m = from.m;
  to.d = from.d;
  to.h = from.h;
  to.mi = from.mi;
  to.s = from.s;
  to.frac = from.frac;
  to.offset = from.offset;
}

function parseText(value: string, t: Temporal): Temporal | string {
  const m = TS_RE.exec(value);
  if (!m) {
    const dmy = DMY_RE.exec(value);
    if (!dmy) return 'not a date or timestamp';
    const month = MONTHS.indexOf(dmy[2]!.toUpperCase()) + 1;
    if (month === 0) return 'unknown month name';
    t.kind = 'date';
    t.y = Number(dmy[3]);
    t.m = month;
    t.d = Number(dmy[1]);
    t.h = 0;
    t.mi = 0;
    t.s = 0;
    t.frac = '';
    t.offset = undefined;
    if (t.d < 1 || t.d > daysInMonth(t.y, t.m)) return 'day out of range';
    return t;
  }
  t.y = Number(m[1]);
  t.m = m[2] === undefined ? 0 : Number(m[2]);
  t.d = m[3] === undefined ? 0 : Number(m[3]);
  t.h = 0;
  t.mi = 0;
  t.s = 0;
  t.frac = '';
  t.offset = undefined;
  if (m[2] !== undefined && (t.m < 1 || t.m > 12)) return 'month out of range';
  if (m[3] !== undefined && (t.d < 1 || t.d > daysInMonth(t.y, t.m))) return 'day out of range';
  if (m[2] === undefined) {
    t.kind = 'year';
    return t;
  }
  if (m[3] === undefined) {
    t.kind = 'month';
    return t;
  }
  if (m[4] === undefined) {
    t.kind = 'date';
    return t;
  }
  t.kind = 'timestamp';
  t.h = Number(m[4]);
  t.mi = Number(m[5]);
  t.s = m[6] === undefined ? 0 : Number(m[6]);
  if (t.h > 23 || t.mi > 59 || t.s > 59) return 'time out of range';
  t.frac = m[7] === undefined ? '' : trimFrac(m[7].slice(0, 9));
  const z = m[8];
  if (z !== undefined) {
    if (z === 'Z' || z === 'z' || z === 'UTC') t.offset = 0;
    else {
      const sign = z[0] === '-' ? -1 : 1;
      const hh = Number(z.slice(1, 3));
      const mm = z.length > 3 ? Number(z.slice(z.length - 2)) : 0;
      if (hh > 23 || mm > 59) return 'offset out of range';
      t.offset = sign * (hh * 60 + mm);
    }
  }
  return t;
}

function trimFrac(f: string): string {
  let end = f.length;
  while (end > 0 && f.charCodeAt(end - 1) === 48) end--;
  return f.slice(0, end);
}

/** Epoch ms (whole seconds; the fraction stays text) of a parsed timestamp; naive ones are read in `zone`. */
export function instantOf(t: Temporal, zone: Zone): number {
  const local = daysFromCivil(t.y, t.m, t.d) * DAY + t.h * 3_600_000 + t.mi * MINUTE + t.s * 1000;
  return t.offset === undefined ? localToEpoch(zone, local) : local - t.offset * MINUTE;
}

const ymdOut = [0, 0, 0];

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

function year4(y: number): string {
  if (y >= 1000 && y <= 9999) return String(y);
  return y < 0 ? '-' + String(-y).padStart(4, '0') : String(y).padStart(4, '0');
}

function dateText(days: number): string {
  civilFromDays(days, ymdOut);
  return year4(ymdOut[0]!) + '-' + pad2(ymdOut[1]!) + '-' + pad2(ymdOut[2]!);
}

/** `epochMs` as local date-time text in `zone` with its offset: 2014-05-06T04:34:30.5-04:00 */
export function formatInstant(epochMs: number, frac: string, zone: Zone): string {
  const off = offsetAt(zone, epochMs);
  const local = epochMs + off * MINUTE;
  const days = Math.floor(local / DAY);
  const rest = local - days * DAY;
  const abs = off < 0 ? -off : off;
  return (
    dateText(days) +
    'T' +
    pad2(Math.floor(rest / 3_600_000)) +
    ':' +
    pad2(Math.floor(rest / MINUTE) % 60) +
    ':' +
    pad2(Math.floor(rest / 1000) % 60) +
    (frac ? '.' + frac : '') +
    (off < 0 ? '-' : '+') +
    pad2(Math.floor(abs / 60)) +
    ':' +
    pad2(abs % 60)
  );
}

/** UTC text of an instant, used for canonical key values: 2014-05-06T08:34:30Z */
export function formatUtc(epochMs: number, frac: string): string {
  const days = Math.floor(epochMs / DAY);
  const rest = epochMs - days * DAY;
  return (
    dateText(days) +
    'T' +
    pad2(Math.floor(rest / 3_600_000)) +
    ':' +
    pad2(Math.floor(rest / MINUTE) % 60) +
    ':' +
    pad2(Math.floor(rest / 1000) % 60) +
    (frac ? '.' + frac : '') +
    'Z'
  );
}

export function partialDateText(t: Temporal): string {
  if (t.kind === 'year') return year4(t.y);
  if (t.kind === 'month') return year4(t.y) + '-' + pad2(t.m);
  return year4(t.y) + '-' + pad2(t.m) + '-' + pad2(t.d);
}

/** The calendar date of a timestamp in `zone` (naive timestamps are already wall-clock time there). */
export function dateOfTimestamp(t: Temporal, zone: Zone): string {
  if (t.offset === undefined) return year4(t.y) + '-' + pad2(t.m) + '-' + pad2(t.d);
  const epoch = instantOf(t, zone);
  const local = epoch + offsetAt(zone, epoch) * MINUTE;
  return dateText(Math.floor(local / DAY));
}
