import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { getZone } from './datetime.js';
import { base32, canonicalKeyValue, hashId } from './ids.js';

/** RFC 4648 base32 one bit at a time: what the grouped encoder must equal. */
function base32BitByBit(buf: Uint8Array): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const b of buf) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[Number.parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}

describe('ids', () => {
  it('base32 gives the RFC 4648 vectors (lower case, unpadded) and the bit-by-bit encoding of any length', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [text, encoded] of vectors) expect(base32(Buffer.from(text))).toBe(encoded);
    // past 40 bytes the encoder's reused output buffer (64 characters at first) must grow
    for (let n = 0; n <= 100; n++) {
      const buf = randomBytes(n);
      expect(base32(buf)).toBe(base32BitByBit(buf));
    }
    // a view into a bigger buffer is encoded from its own offset, not from the start of the memory behind it
    const whole = randomBytes(50);
    expect(base32(whole.subarray(7, 29))).toBe(base32BitByBit(Uint8Array.from(whole.subarray(7, 29))));
    expect(base32(Buffer.alloc(32, 0xff))).toBe(base32BitByBit(Buffer.alloc(32, 0xff)));
  });

  it('hash ids keep their format and value', () => {
    // computed by the first implementation: ids are part of the output contract
    expect(hashId('observation-lab', 'Observation', ['p1', 'e1', '718-7', '2020-01-02T03:04:05Z'])).toBe(
      'qoub4c3cdc6dykw3ox3dgrbrwznaurlhohgafzl347tlehjqpx5q',
    );
  });

  it('a repeated timestamp key is canonical in each zone it is read in', () => {
    const ny = getZone('America/New_York');
    const utc = getZone('UTC');
    expect(canonicalKeyValue('2020-01-02 03:04:05', ny)).toBe('2020-01-02T08:04:05Z');
    expect(canonicalKeyValue('2020-01-02 03:04:05', ny)).toBe('2020-01-02T08:04:05Z');
    expect(canonicalKeyValue('2020-01-02 03:04:05', utc)).toBe('2020-01-02T03:04:05Z');
    expect(canonicalKeyValue(' 2020-01-02 03:04:05 ', ny)).toBe('2020-01-02T08:04:05Z');
    expect(canonicalKeyValue('2020-13-02 03:04:05', utc)).toBe('2020-13-02 03:04:05');
    expect(canonicalKeyValue('2020-13-02 03:04:05', utc)).toBe('2020-13-02 03:04:05');
  });
});
