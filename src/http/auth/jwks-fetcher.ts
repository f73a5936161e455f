// Fetches a client's JWK Set from its registered URL. SMART asks the server not to cache a JWKS longer
// than the client's Cache-Control allows (and lets it cache that long), which jose's
// createRemoteJWKSet does not look at; hence this small cache keyed by URL.
import type { JSONWebKeySet } from 'jose';

const DEFAULT_MAX_AGE_MS = 5 * 60_000;
/** Largest JWKS read: a set of a few RSA 4096 keys is under 10 kB; an unbounded body is a memory attack. */
export const MAX_JWKS_BYTES = 64 * 1024;

export class JwksFetcher {
  private readonly cache = new Map<string, { keys: JSONWebKeySet; until: number }>();

  constructor(private readonly options: { timeoutMs?: number; fetch?: typeof fetch; maxBytes?: number } = {}) {}

  async get(url: string): Promise<JSONWebKeySet> {
    const hit = this.cache.get(url);
    if (hit && hit.until > Date.now()) return hit.keys;
    const res = await (this.options.fetch ?? fetch)(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
    });
    if (!res.ok) throw new Error(`JWKS ${url} answered ${res.status}`);
    const body = JSON.parse(await readCapped(res, url, this.options.maxBytes ?? MAX_JWKS_BYTES)) as JSONWebKeySet;
    if (!body || !Array.isArray(body.keys)) throw new Error(`JWKS ${url} is not a JWK Set`);
    const maxAge = cacheLifetime(res.headers.get('cache-control'));
    if (maxAge > 0) this.cache.set(url, { keys: body, until: Date.now() + maxAge });
    else this.cache.delete(url);
    return body;
  }
}

/** The body as text, refusing (and cancelling the download) once it passes `max` bytes. */
async function readCapped(res: Response, url: string, max: number): Promise<string> {
  const tooLarge = () => new Error(`JWKS ${url} is larger than ${max} bytes`);
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** milliseconds a response may be reused: 0 for no-store/no-cache/max-age=0 */
export function cacheLifetime(header: string | null): number {
  if (!header) return DEFAULT_MAX_AGE_MS;
  const directives = header
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  const maxAge = directives.find((d) => d.startsWith('max-age='));
  if (maxAge) {
    const seconds = Number(maxAge.slice('max-age='.length));
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
  }
  return DEFAULT_MAX_AGE_MS;
}
