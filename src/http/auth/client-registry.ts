// Registered backend-service clients: who may ask for a token, with which public keys and up to which
// scopes. Read from a JSON or YAML file:
//
//   clients:
//     - id: analytics                       # the client_id (= iss and sub of its assertions)
//       jwksUrl: https://analytics.example.org/jwks.json   # preferred: keys the client can rotate
//       scope: system/*.read                # what it may be granted (space-separated)
//     - id: payer-feed
//       jwks: { keys: [ { kty: EC, crv: P-384, kid: k1, x: ..., y: ... } ] }   # or inline keys
//       scope: system/Patient.rs system/Coverage.rs system/ExplanationOfBenefit.rs
//
// `fhir-bridge clients add` maintains the file (default <data-dir>/clients.json). A registry loaded from a
// file follows it while the server runs: `refresh()` (called by the token endpoint and by every access
// token check) re-reads the file when it changed, so `clients remove` takes effect at once (issue 8,
// item 5), not at the next restart. Checking costs one stat() per request.
import { readFile, writeFile, mkdir, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { JSONWebKeySet } from 'jose';
import { FhirBridgeError } from '../../errors.js';

export interface RegisteredClient {
  id: string;
  jwksUrl?: string;
  jwks?: JSONWebKeySet;
  /** space-separated scopes the client is pre-authorized for */
  scope: string;
  name?: string;
}

export class ClientConfigError extends FhirBridgeError {
  constructor(message: string) {
    super(message, { issueCode: 'invalid', status: 500 });
  }
}

export class ClientRegistry {
  private byId = new Map<string, RegisteredClient>();
  /** the file this registry was loaded from, and its identity (inode, size, mtime) when read */
  private source?: { file: string; missingOk: boolean; stamp: string };
  private refreshing?: Promise<void>;

  constructor(clients: RegisteredClient[] = []) {
    for (const c of clients) this.add(c);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): RegisteredClient | undefined {
    return this.byId.get(id);
  }

  all(): RegisteredClient[] {
    return [...this.byId.values()];
  }

  /** Adds or replaces a client after checking it. */
  add(client: RegisteredClient, where = 'client'): void {
    validateClient(client, where);
    this.byId.set(client.id, client);
  }

  remove(id: string): boolean {
    return this.byId.delete(id);
  }

  /**
   * Re-reads the file this registry was loaded from if it changed since (a no-op for a registry built in
   * memory). A file that became unreadable or invalid is an error (ClientConfigError), not a silent
   * keep-the-old-clients: a removed client must not keep access because the edit went wrong.
   */
  async refresh(): Promise<void> {
    if (!this.source) return;
    this.refreshing ??= (async () => {
      try {
        const source = this.source!;
        if ((await fileStamp(source.file)) === source.stamp) return;
        const fresh = await ClientRegistry.load(source.file, { missingOk: source.missingOk });
        this.byId = fresh.byId;
        this.source = fresh.source;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  static async load(file: string, options: { missingOk?: boolean } = {}): Promise<ClientRegistry> {
    // stamped before reading: a change made while we read is seen by the next refresh()
    const stamp = await fileStamp(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && options.missingOk) {
        const empty = new ClientRegistry();
        empty.source = { file, missingOk: true, stamp };
        return empty;
      }
      throw new ClientConfigError(`cannot read the client registry ${file}: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw new ClientConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
    }
    const list = (doc as { clients?: unknown } | null)?.clients ?? [];
    if (!Array.isArray(list)) throw new ClientConfigError(`${file}: "clients" must be a list`);
    const registry = new ClientRegistry();
    list.forEach((c, i) => {
      registry.add(c as RegisteredClient, `${file}: clients[${i}]`);
    });
    registry.source = { file, missingOk: options.missingOk ?? false, stamp };
    return registry;
  }

  async save(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ clients: this.all() }, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, file);
  }
}

/**
 * The members of a JWK that are private key material (RFC 7518 §6.3.2 for RSA: d, and the CRT values
 * p, q, dp, dq, qi, oth, any of which gives the key away; §6.2.2 d for EC; §6.4.1 k for a symmetric
 * key). A public JWKS holds none of them (SMART backend services: the client registers its public key).
 */
export function privateMembers(jwk: object): string[] {
  return ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'].filter((m) => m in jwk);
}

/** What tells one version of the file from another: `save` renames a new file in (a new inode). */
async function fileStamp(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new ClientConfigError(`cannot read the client registry ${file}: ${(e as Error).message}`);
  }
}

function validateClient(c: RegisteredClient, where: string): void {
  if (typeof c !== 'object' || c === null) throw new ClientConfigError(`${where}: must be an object`);
  if (typeof c.id !== 'string' || !c.id) throw new ClientConfigError(`${where}: "id" (the client_id) is required`);
  if (typeof c.scope !== 'string' || !c.scope.trim())
    throw new ClientConfigError(`${where} (${c.id}): "scope" is required, e.g. "system/*.read"`);
  if (!c.jwksUrl === !c.jwks) throw new ClientConfigError(`${where} (${c.id}): give exactly one of "jwksUrl" and "jwks"`);
  if (c.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(c.jwksUrl);
    } catch {
      throw new ClientConfigError(`${where} (${c.id}): jwksUrl "${c.jwksUrl}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ClientConfigError(`${where} (${c.id}): jwksUrl must be http(s)`);
  }
  if (c.jwks !== undefined) {
    if (!Array.isArray(c.jwks.keys) || c.jwks.keys.length === 0)
      throw new ClientConfigError(`${where} (${c.id}): jwks must be a JWK Set { keys: [...] }`);
    c.jwks.keys.forEach((k, i) => {
      // SMART: each JWK has kty and kid, and bare public key material (n/e or crv/x/y), never a private part.
      if (!k.kid || !k.kty) throw new ClientConfigError(`${where} (${c.id}): jwks.keys[${i}] needs "kty" and "kid"`);
      const secret = privateMembers(k);
      if (secret.length)
        throw new ClientConfigError(
          `${where} (${c.id}): jwks.keys[${i}] holds PRIVATE key material (${secret.join(', ')}); register the public key only`,
        );
    });
  }
}
