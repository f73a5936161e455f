// The process' logger: JSON lines on stderr (stdout stays for command output), level from LOG_LEVEL.
// Connection settings never reach a log line: the usual places for secrets are redacted by path, and
// connectors describe themselves with redactConnection() rather than their raw configuration.
import pino, { type Logger } from 'pino';

export type { Logger };

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Paths pino blanks out wherever they appear in a logged object (two levels deep). */
export const REDACTED_PATHS = [
  'connection',
  'password',
  'secret',
  'token',
  'authorization',
  '*.connection',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  '*.*.connection',
  '*.*.password',
  'headers.authorization',
  'req.headers.authorization',
];

/** LOG_LEVEL if it names a pino level, else the default. */
export function logLevel(fallback = 'info'): string {
  const level = process.env.LOG_LEVEL?.trim().toLowerCase();
  return level && LEVELS.has(level) ? level : fallback;
}

let root: Logger | undefined;

export function createLogger(options: { name?: string; level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'fhir-bridge',
      level: options.level ?? logLevel(),
      redact: { paths: REDACTED_PATHS, censor: '***' },
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** The shared logger (created on first use), or a child of it for one part of the program. */
export function logger(component?: string): Logger {
  root ??= createLogger();
  return component ? root.child({ component }) : root;
}
