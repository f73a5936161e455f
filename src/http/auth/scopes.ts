// SMART scopes for backend services (SMART App Launch 2.0.0, scopes-and-launch-context.html): v1
// `system/Observation.read` / `system/*.read` and v2 `system/Observation.rs` / `system/*.cruds`.
// An export needs read and search on a type: v1 `read`, or v2 permissions containing both `r` and `s`.
// v2 scopes with a query (`system/Observation.rs?category=laboratory`) and user/patient scopes are not
// granted: this server has no user or launch context and does not apply per-scope filters.
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface Scope {
  raw: string;
  context: 'system' | 'user' | 'patient';
  /** a resource type or '*' */
  type: string;
  permissions: Set<Permission>;
  query?: string;
}

const V1 = /^(system|user|patient)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$/;
const V2 = /^(system|user|patient)\/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?)(?:\?(.+))?$/;

export function parseScope(raw: string): Scope | undefined {
  const v1 = V1.exec(raw);
  if (v1) {
    const perms: Permission[] = v1[3] === 'read' ? ['r', 's'] : v1[3] === 'write' ? ['c', 'u', 'd'] : ['c', 'r', 'u', 'd', 's'];
    return { raw, context: v1[1] as Scope['context'], type: v1[2]!, permissions: new Set(perms) };
  }
  const v2 = V2.exec(raw);
  if (v2?.[3]) {
    const scope: Scope = { raw, context: v2[1] as Scope['context'], type: v2[2]!, permissions: new Set(v2[3].split('') as Permission[]) };
    if (v2[4]) scope.query = v2[4];
    return scope;
  }
  return undefined;
}

export function splitScopes(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

/** Does `granted` allow everything `requested` asks for? */
export function covers(granted: Scope, requested: Scope): boolean {
  if (granted.context !== requested.context) return false;
  if (granted.type !== '*' && granted.type !== requested.type) return false;
  if (granted.query !== undefined && granted.query !== requested.query) return false;
  for (const p of requested.permissions) if (!granted.permissions.has(p)) return false;
  return true;
}

/**
 * The requested scopes the client is pre-authorized for (its registered `scope`), keeping only what this
 * server honours: system scopes without a query. Unknown scope strings are dropped (SMART lets the
 * server grant less than asked; the token response says what was granted).
 */
export function grantScopes(requested: string[], allowed: string[]): string[] {
  const allowedScopes = allowed.map(parseScope).filter((s): s is Scope => s !== undefined);
  return requested.filter((raw) => {
    const scope = parseScope(raw);
    if (scope?.context !== 'system' || scope.query !== undefined) return false;
    return allowedScopes.some((a) => covers(a, scope));
  });
}

/** Whether the scopes let a client export `type` (read + search). */
export function canExport(scopes: readonly string[], type: string): boolean {
  const need: Scope = { raw: '', context: 'system', type, permissions: new Set(['r', 's']) };
  return scopes.some((raw) => {
    const s = parseScope(raw);
    return s !== undefined && s.query === undefined && covers(s, need);
  });
}
