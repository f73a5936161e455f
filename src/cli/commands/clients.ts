// `fhir-bridge clients add|list|remove`: maintains the registry of backend-service clients the server
// accepts (default <data-dir>/clients.json; see auth/client-registry.ts for the format).
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { ClientConfigError, ClientRegistry, type RegisteredClient } from '../../http/auth/client-registry.js';
import { registryFile } from '../options.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function registerClientsCommand(program: Command): void {
  const clients = program
    .command('clients')
    .description('register the backend-service clients the $export server accepts (SMART Backend Services)');
  const where = (cmd: Command): Command =>
    cmd
      .option('--data-dir <dir>', 'server data folder (default: $FHIR_BRIDGE_DATA_DIR or ./.fhir-bridge)')
      .option('--clients <file>', 'client registry file (default: <data-dir>/clients.json)');

  where(
    clients
      .command('add')
      .description('add or replace a client: its id, its public keys (JWKS URL or file) and the scopes it may get')
      .requiredOption('--id <client_id>', 'the client_id (iss and sub of its assertions)')
      .option('--jwks-url <url>', "URL of the client's public JWK Set (preferred: lets the client rotate keys)")
      .option('--jwks-file <file>', 'a JWK Set or single JWK file (private members are stripped; only the public key is stored)')
      .option(
        '--generate-key <file>',
        'make an ES384 (or --alg) key pair: write the PRIVATE JWK to <file> for the client and register the public one',
      )
      .option('--alg <alg>', 'algorithm for --generate-key: ES384 or RS384', 'ES384')
      .option('--scope <scopes>', 'space-separated scopes the client may be granted', 'system/*.read'),
  ).action(
    async (opts: {
      id: string;
      jwksUrl?: string;
      jwksFile?: string;
      generateKey?: string;
      alg: string;
      scope: string;
      dataDir?: string;
      clients?: string;
    }) => {
      await report(async () => {
        const file = registryFile(opts);
        const registry = await ClientRegistry.load(file, { missingOk: true });
        const sources = [opts.jwksUrl, opts.jwksFile, opts.generateKey].filter(Boolean).length;
        if (sources !== 1) throw new ClientConfigError('give exactly one of --jwks-url, --jwks-file and --generate-key');
        const client: RegisteredClient = { id: opts.id, scope: opts.scope };
        if (opts.jwksUrl) client.jwksUrl = opts.jwksUrl;
        if (opts.jwksFile)
          client.jwks = { keys: publicKeys(JSON.parse(await readFile(opts.jwksFile, 'utf8')) as JWK | { keys: JWK[] }, opts.jwksFile) };
        if (opts.generateKey) {
          if (opts.alg !== 'ES384' && opts.alg !== 'RS384') throw new ClientConfigError('--alg must be ES384 or RS384');
          const { privateKey, publicKey } = await generateKeyPair(opts.alg, { extractable: true });
          const kid = `${opts.id}-${Date.now().toString(36)}`;
          await writeFile(opts.generateKey, JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: opts.alg }, null, 2) + '\n', {
            mode: 0o600,
          });
          client.jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: opts.alg, use: 'sig' }] };
          console.log(`private key for ${opts.id} written to ${opts.generateKey} (keep it secret; give it to the client only)`);
        }
        registry.add(client, `client ${opts.id}`);
        await registry.save(file);
        console.log(
          `client ${opts.id} registered in ${file} with scope "${opts.scope}"${client.jwksUrl ? ` (keys from ${client.jwksUrl})` : ''}`,
        );
        console.log('a running server reads the registry at start: restart it to pick the change up');
      });
    },
  );

  clients
    .command('token')
    .description('get an access token the way a backend service does (signed assertion → token endpoint); prints it for curl')
    .requiredOption('--id <client_id>', 'the client_id')
    .requiredOption('--key <file>', 'the PRIVATE JWK of the client (as written by --generate-key)')
    .requiredOption('--token-url <url>', "the server's token endpoint, e.g. http://localhost:8080/auth/token")
    .option('--scope <scopes>', 'scopes to ask for', 'system/*.read')
    .action(async (opts: { id: string; key: string; tokenUrl: string; scope: string }) => {
      await report(async () => {
        const jwk = JSON.parse(await readFile(opts.key, 'utf8')) as JWK;
        const alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES384' : 'RS384');
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg, kid: jwk.kid!, typ: 'JWT' })
          .setIssuer(opts.id)
          .setSubject(opts.id)
          .setAudience(opts.tokenUrl)
          .setExpirationTime('4m')
          .setJti(randomUUID())
          .sign(await importJWK(jwk, alg));
        const res = await fetch(opts.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            scope: opts.scope,
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
          }),
        });
        const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
        if (!res.ok || !body.access_token)
          throw new ClientConfigError(`token endpoint answered ${res.status}: ${body.error ?? ''} ${body.error_description ?? ''}`);
        console.log(body.access_token);
      });
    });

  where(clients.command('list').description('list registered clients')).action(async (opts: { dataDir?: string; clients?: string }) => {
    await report(async () => {
      const file = registryFile(opts);
      const registry = await ClientRegistry.load(file, { missingOk: true });
      if (registry.size === 0) console.log(`no clients registered in ${file}`);
      for (const c of registry.all()) console.log(`${c.id}\t${c.scope}\t${c.jwksUrl ?? `${c.jwks!.keys.length} inline key(s)`}`);
    });
  });

  where(clients.command('remove').description('remove a client').requiredOption('--id <client_id>', 'the client to remove')).action(
    async (opts: { id: string; dataDir?: string; clients?: string }) => {
      await report(async () => {
        const file = registryFile(opts);
        const registry = await ClientRegistry.load(file, { missingOk: true });
        if (!registry.remove(opts.id)) throw new ClientConfigError(`no client ${opts.id} in ${file}`);
        await registry.save(file);
        console.log(`client ${opts.id} removed from ${file}`);
      });
    },
  );
}

/** The public part of a JWK or JWK Set (a bulk data client's config holds the private key). */
export function publicKeys(doc: JWK | { keys: JWK[] }, file: string): JWK[] {
  const keys = 'keys' in doc && Array.isArray(doc.keys) ? doc.keys : [doc as JWK];
  return keys.map((k, i) => {
    if (!k.kty || !k.kid) throw new ClientConfigError(`${file}: key ${i} needs "kty" and "kid"`);
    const pub = { ...k };
    let stripped = false;
    for (const m of PRIVATE_MEMBERS) {
      if (m in pub) {
        delete (pub as Record<string, unknown>)[m];
        stripped = true;
      }
    }
    if (k.kty === 'oct') throw new ClientConfigError(`${file}: key ${k.kid} is a symmetric key; register an RSA or EC public key`);
    if (stripped) console.warn(`${file}: key ${k.kid} is a private key; only its public part is registered`);
    if (Array.isArray(pub.key_ops)) pub.key_ops = ['verify'];
    return pub;
  });
}

async function report(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ClientConfigError) && !(e instanceof SyntaxError)) throw e;
    console.error(`fhir-bridge clients: ${e.message}`);
    process.exitCode = 1;
  }
}
