// Whether a connector's database server runs on this machine. Its queries then take CPU from the cores the
// export maps on: on 2 cores with PostgreSQL beside it, an export of Synthea ×100 on two mapping threads took
// as long as on one (PostgreSQL used about a third of a core per mapping thread) and 140 MiB more memory.
import { hostname } from 'node:os';
import { dialect, resolveKind } from './registry.js';
import type { ConnectorConfig } from './types.js';

const LOCAL_NAMES = new Set(['', 'localhost', '::1', '[::1]', '0.0.0.0']);

function isLocal(host: string): boolean {
  const name = host.trim().toLowerCase();
  return LOCAL_NAMES.has(name) || name.startsWith('127.') || name.endsWith('.localhost') || name === hostname().toLowerCase();
}

/** The host a connection names: a URL's (none: a Unix socket), or an object's host/server, or an Oracle connectString's. */
function hostOf(connection: ConnectorConfig['connection']): string | undefined {
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      // libpq-style ?host=/var/run/postgresql names a socket directory
      const socket = url.searchParams.get('host') ?? url.searchParams.get('socketPath');
      return socket?.startsWith('/') ? '' : url.hostname;
    } catch {
      // `postgres://user@/db?host=/run/postgresql` has no host for the URL parser: a socket
      return /[?&](?:host|socketPath)=\//.test(connection) ? '' : undefined;
    }
  }
  if (!connection) return undefined;
  if (typeof connection.socketPath === 'string') return '';
  for (const key of ['host', 'server'] as const) if (typeof connection[key] === 'string') return connection[key];
  const connect = connection.connectString ?? connection.connectionString;
  if (typeof connect === 'string') {
    // host[:port][/service] (Easy Connect) or a URL
    const easy = /^(?:[a-z]+:\/\/)?(?:[^@/]*@)?(\[[^\]]+\]|[^:/?]+)/i.exec(connect);
    return easy?.[1];
  }
  // a connection object without a host: the driver's default, localhost
  return '';
}

/** True when the connector reads a database server (not a file) named by a local address or this host's name. */
export function databaseOnThisMachine(config: Pick<ConnectorConfig, 'kind' | 'connection'>): boolean {
  const kind = resolveKind(config.kind);
  if (!kind || dialect(kind).needs !== 'connection') return false;
  const host = hostOf(config.connection);
  return host !== undefined && isLocal(host);
}
