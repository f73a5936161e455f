// Connection strings and objects carry passwords. Everything a connector prints or puts in an error goes
// through here first, so a failing database never leaks its credentials into logs or OperationOutcomes.
import type { ConnectorConfig } from './types.js';
import { ConnectorError } from '../errors.js';
import { isTransientDriverError } from './transient.js';

const SECRET_KEYS = /^(password|pass|pwd|secret|token|accesstoken|clientsecret|privatekey|key)$/i;

/** Every secret string found in a connection (URL password, `password:` members, nested options). */
export function secretsOf(connection: ConnectorConfig['connection']): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key?: string): void => {
    if (typeof value === 'string') {
      if (key && SECRET_KEYS.test(key) && value) found.push(value);
      const url = parseUrl(value);
      if (url?.password) {
        found.push(url.password);
        found.push(decodeURIComponent(url.password));
      }
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  visit(connection);
  // Very short secrets are left out: blanking every 'p' of a message would make it unreadable, and the
  // connection itself is only ever printed through redactConnection, which drops the password outright.
  return [...new Set(found.filter((s) => s.length >= 4))];
}

function parseUrl(value: string): URL | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** A text with every secret of the connection replaced by `***`. */
export function redactText(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}

/** A printable description of where a connector reads from: kind, host, database or path; never a password. */
export function redactConnection(config: Pick<ConnectorConfig, 'kind' | 'connection' | 'path'>): string {
  if (config.kind === 'csv') return `csv ${config.path ?? '?'}`;
  if (config.kind === 'sqlite') return `sqlite ${config.path ?? (typeof config.connection === 'string' ? config.connection : '?')}`;
  const c = config.connection;
  if (typeof c === 'string') {
    const url = parseUrl(c);
    if (!url) return `${config.kind} (connection string)`;
    url.password = '';
    url.search = '';
    return url.toString();
  }
  if (c && typeof c === 'object') {
    const o = c as Record<string, unknown>;
    const host = o.host ?? o.server ?? o.connectString ?? o.connectionString ?? '?';
    const port = o.port ? `:${String(o.port)}` : '';
    const user = o.user ?? o.username;
    const db = o.database ?? o.db ?? '';
    const hostText = typeof host === 'string' && parseUrl(host) ? redactConnection({ ...config, connection: host }) : String(host);
    return `${config.kind}://${user ? `${String(user)}@` : ''}${hostText}${port}${db ? `/${String(db)}` : ''}`;
  }
  return config.kind;
}

/**
 * A ConnectorError for a failure of `what` (a table, a query, "connect"), with the driver's message kept
 * but any secret removed. The original error is not attached as `cause` because driver errors can embed the
 * connection configuration, password included.
 */
export function connectorFailure(adapterName: string, what: string, err: unknown, secrets: string[]): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const e = err as { message?: string; code?: string } | undefined;
  let raw = e?.message || (e?.code ? String(e.code) : String(err));
  // knex prefixes the whole statement ("insert into ... values (...) - <error>"); the error is what matters
  if (raw.length > 500 && raw.includes(' - ')) raw = raw.slice(raw.lastIndexOf(' - ') + 3);
  if (raw.length > 1000) raw = `${raw.slice(0, 1000)}…`;
  const code = e?.code && !raw.includes(String(e.code)) ? ` (${String(e.code)})` : '';
  // The driver error is not kept, but whether it is worth a retry is (see transient.ts).
  return new ConnectorError(redactText(`${adapterName}: ${what}: ${raw}${code}`, secrets), { transient: isTransientDriverError(err) });
}
