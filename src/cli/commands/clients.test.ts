import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientConfigError, ClientRegistry } from '../../http/auth/client-registry.js';
import { publicKeys, registerClientsCommand } from './clients.js';

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function run(...args: string[]): Promise<void> {
  const program = new Command().exitOverride();
  registerClientsCommand(program);
  await program.parseAsync(['node', 'fhir-bridge', ...args]);
}

describe('fhir-bridge clients', () => {
  it('adds a client from a JWKS URL, from a key file (public part only) and with a generated key; lists and removes', async () => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-clients-'));
    const { privateKey } = await generateKeyPair('RS384', { extractable: true });
    const keyFile = join(dir, 'private.json');
    await writeFile(keyFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS384' }));

    await run('clients', 'add', '--id', 'a', '--jwks-url', 'https://a.example/jwks.json', '--data-dir', dir);
    await run('clients', 'add', '--id', 'b', '--jwks-file', keyFile, '--scope', 'system/Patient.rs', '--data-dir', dir);
    await run('clients', 'add', '--id', 'c', '--generate-key', join(dir, 'c.json'), '--data-dir', dir);
    const registry = await ClientRegistry.load(join(dir, 'clients.json'));
    expect(registry.get('a')).toEqual({ id: 'a', scope: 'system/*.read', jwksUrl: 'https://a.example/jwks.json' });
    const b = registry.get('b')!;
    expect(b.scope).toBe('system/Patient.rs');
    expect(b.jwks!.keys[0]).toMatchObject({ kty: 'RSA', kid: 'k1' });
    expect(b.jwks!.keys[0]).not.toHaveProperty('d');
    const generated = JSON.parse(await readFile(join(dir, 'c.json'), 'utf8')) as { d?: string; kid: string };
    expect(generated.d).toBeTruthy();
    expect(registry.get('c')!.jwks!.keys[0]!.kid).toBe(generated.kid);
    expect(registry.get('c')!.jwks!.keys[0]).not.toHaveProperty('d');

    await run('clients', 'remove', '--id', 'a', '--data-dir', dir);
    expect((await ClientRegistry.load(join(dir, 'clients.json'))).get('a')).toBeUndefined();
  });

  it('refuses a client without keys or with two key sources', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-clients-'));
    await run('clients', 'add', '--id', 'x', '--data-dir', dir);
    expect(process.exitCode).toBe(1);
    expect(errors[0]).toContain('exactly one');
  });

  it('rejects symmetric keys and registry entries that are private keys', () => {
    expect(() => publicKeys({ kty: 'oct', kid: 's', k: 'abc' }, 'f.json')).toThrow(ClientConfigError);
    expect(() => new ClientRegistry([{ id: 'x', scope: 'system/*.read', jwks: { keys: [{ kty: 'EC', kid: 'k', d: 'secret' }] } }])).toThrow(
      'PRIVATE',
    );
  });
});
