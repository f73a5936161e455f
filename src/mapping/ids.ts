// Resource ids. Either an `id:` template over key columns (invertible, so `Patient/x` can be turned back
// into a WHERE on the source) or a stable hash of mapping name + resourceType + canonical key values.
// Canonical means the same row gives the same id whatever the adapter: timestamps become their UTC
// instant (naive ones read in the connector's zone), numbers and numeric text lose insignificant zeros,
// everything else is trimmed text.
import * as crypto from 'node:crypto';
import { formatUtc, instantOf, parseTemporal, type Zone } from './datetime.js';
import type { StringTemplate } from './template.js';

export { FHIR_ID_RE } from '../fhir/id.js';

const DECIMAL_TEXT_RE = /^[+-]?\d+\.\d*$/;

/** The last timestamp text canonicalised, its zone and its canonical form. */
let lastStamp: string | undefined;
let lastZone: Zone | undefined;
let lastCanonical = '';

export function canonicalKeyValue(v: unknown, zone: Zone): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? (v === 0 ? '0' : String(v)) : undefined;
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) {
    const t = parseTemporal(v);
    return typeof t === 'string' ? undefined : formatUtc(instantOf(t, zone), t.frac);
  }
  const s = (typeof v === 'string' ? v : String(v)).trim();
  if (s === '') return undefined;
  const c0 = s.charCodeAt(0);
  // Cheap shape tests first: this runs for every key value of every row.
  if (s.length >= 16 && s.charCodeAt(4) === 45 /* - */ && (s[10] === 'T' || s[10] === ' ')) {
    // consecutive rows often share a timestamp key (the lab results of one draw): parse it once
    if (s === lastStamp && zone === lastZone) return lastCanonical;
    const t = parseTemporal(s);
    const canonical = typeof t !== 'string' && t.kind === 'timestamp' ? formatUtc(instantOf(t, zone), t.frac) : s;
    lastStamp = s;
    lastZone = zone;
    lastCanonical = canonical;
    return canonical;
  }
  if ((c0 >= 48 && c0 <= 57) || c0 === 45 || c0 === 43 || c0 === 46) {
    if (DECIMAL_TEXT_RE.test(s)) return canonicalDecimalText(s);
  }
  return s;
}

/** '85.50' → '85.5', '100.00' → '100', '-0.0' → '0', '+7.10' → '7.1' (leading zeros are kept: '007' is a code). */
function canonicalDecimalText(s: string): string {
  let end = s.length;
  while (s.charCodeAt(end - 1) === 48) end--;
  if (s.charCodeAt(end - 1) === 46) end--;
  let out = s.slice(0, end);
  if (out[0] === '+') out = out.slice(1);
  if (/^-?0*$/.test(out)) return '0';
  return out;
}

const B32 = Uint8Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0));

/** Where base32 text is assembled: one flat string per id is made from it, none of the concatenations between. */
let scratch = Buffer.allocUnsafeSlow(64);

/** RFC 4648 base32 in lower case, no padding. */
export function base32(buf: Uint8Array): string {
  return base32OfBytes(Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('latin1'));
}

/**
 * base32 of bytes held as a latin1 string (one character per byte, as a digest gives it with 'latin1'): 5 bytes →
 * 8 characters at a time, then the tail bit by bit. Ids are made for every resource and reference, so neither a
 * Buffer per digest nor a string per character: with those, ids were a tenth of an export's garbage.
 */
function base32OfBytes(bytes: string): string {
  const length = Math.ceil((bytes.length * 8) / 5);
  if (scratch.length < length) scratch = Buffer.allocUnsafeSlow(2 * length);
  const out = scratch;
  let o = 0;
  const whole = bytes.length - (bytes.length % 5);
  for (let i = 0; i < whole; i += 5) {
    const hi = bytes.charCodeAt(i);
    const lo =
      ((bytes.charCodeAt(i + 1) << 24) | (bytes.charCodeAt(i + 2) << 16) | (bytes.charCodeAt(i + 3) << 8) | bytes.charCodeAt(i + 4)) >>> 0;
    out[o++] = B32[hi >> 3]!;
    out[o++] = B32[((hi & 7) << 2) | (lo >>> 30)]!;
    out[o++] = B32[(lo >>> 25) & 31]!;
    out[o++] = B32[(lo >>> 20) & 31]!;
    out[o++] = B32[(lo >>> 15) & 31]!;
    out[o++] = B32[(lo >>> 10) & 31]!;
    out[o++] = B32[(lo >>> 5) & 31]!;
    out[o++] = B32[lo & 31]!;
  }
  let bits = 0;
  let acc = 0;
  for (let i = whole; i < bytes.length; i++) {
    acc = (acc << 8) | bytes.charCodeAt(i);
    bits += 8;
    while (bits >= 5) {
      out[o++] = B32[(acc >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out[o++] = B32[(acc << (5 - bits)) & 31]!;
  return out.toString('latin1', 0, o);
}

/** A 52-character [a-z2-7] id: base32 of sha-256(mapping, resourceType, canonical key values). */
export function hashId(mapping: string, resourceType: string, canonicalKey: readonly (string | undefined)[]): string {
  // an absent key value counts as '' (the caller has checked that some value is present)
  let input = mapping + '\u001f' + resourceType;
  for (let i = 0; i < canonicalKey.length; i++) input += '\u001f' + (canonicalKey[i] ?? '');
  return base32OfBytes(sha256(input));
}

// crypto.hash (Node >= 20.12) hashes in one call, markedly cheaper than createHash per id; 'latin1' hands the
// digest over as a 32-character string instead of a Buffer of its own.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: string, enc: 'latin1') => string }).hash;
const sha256 = oneShot
  ? (s: string): string => oneShot('sha256', s, 'latin1')
  : (s: string): string => crypto.createHash('sha256').update(s).digest().toString('latin1');

export interface IdTemplate {
  /** renders from canonical key values (in key order); undefined if a referenced part is missing */
  render(canonicalKey: readonly (string | undefined)[]): string | undefined;
  /** key values (in key order) for an id, when every key column appears in the template */
  invert: ((id: string) => string[] | undefined) | undefined;
}

/** Builds the id rule of an `id:` template whose references are all key columns (checked by the caller). */
export function compileIdTemplate(tpl: StringTemplate, key: readonly string[]): IdTemplate {
  const literals = tpl.literals;
  const positions = tpl.refs.map((r) => key.indexOf(r.column));
  const render = (canonicalKey: readonly (string | undefined)[]): string | undefined => {
    let out = literals[0]!;
    for (let k = 0; k < positions.length; k++) {
      const v = canonicalKey[positions[k]!];
      if (v === undefined) return undefined;
      out += v + literals[k + 1]!;
    }
    return out;
  };
  let invert: IdTemplate['invert'];
  if (key.every((_, i) => positions.includes(i))) {
    const re = new RegExp('^' + literals.map(escapeRe).join('(.+?)') + '$');
    invert = (id) => {
      const m = re.exec(id);
      if (!m) return undefined;
      const out: (string | undefined)[] = new Array(key.length).fill(undefined);
      for (let k = 0; k < positions.length; k++) {
        const v = m[k + 1]!;
        const at = positions[k]!;
        if (out[at] !== undefined && out[at] !== v) return undefined;
        out[at] = v;
      }
      return out as string[];
    };
  }
  return { render, invert };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
