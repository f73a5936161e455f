// Which source failures are worth trying again: the connection went away (reset, terminated, refused while
// the server restarts, a pool that could not hand out a connection in time) or the server gave up on the
// statement for a reason that a second run usually does not hit (deadlock, serialization failure). Anything
// else (bad SQL, a missing table, wrong credentials) fails the same way every time and is reported at once.

/** PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, admin/crash shutdown, cannot connect now. */
const PG_TRANSIENT = new Set(['40001', '40P01', '57P01', '57P02', '57P03']);
/** Node socket errors and the MySQL/MariaDB driver's codes for a lost connection or a deadlock. */
const CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
  'ESOCKET', // tedious (SQL Server)
]);
/** Driver errors that carry no code: pg's lost connection and its pool's acquire timeout. */
const MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection lost/i,
  /server closed the connection/i,
  // pg, when a pooled client whose connection was killed is used again before the pool notices
  /connection error and is not queryable/i,
];

export function isTransientDriverError(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (PG_TRANSIENT.has(code) || code.startsWith('08') || CODES.has(code)) return true;
    }
    if (typeof message === 'string' && MESSAGES.some((m) => m.test(message))) return true;
    // AggregateError (a host with several addresses refusing on each) carries the real errors in `errors`
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => isTransientDriverError(x))) return true;
  }
  return false;
}
