// The process' logger (src/log.ts, with its redaction paths) writing into memory, so tests can read the
// JSON lines a server logs and wait for a particular one.
import { createLogger, type Logger } from '../../src/log.js';

export type LogLine = Record<string, unknown> & { level: number; msg?: string };

export interface CapturedLog {
  logger: Logger;
  /** the raw JSON lines, as written */
  raw: string[];
  lines: LogLine[];
  /** resolves with the first line (already written or still to come) that matches */
  waitFor(match: (line: LogLine) => boolean): Promise<LogLine>;
}

export function captureLog(level = 'info'): CapturedLog {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  const logger = createLogger({
    level,
    destination: {
      write(chunk: string) {
        for (const text of chunk.split('\n').filter(Boolean)) {
          raw.push(text);
          const line = JSON.parse(text) as LogLine;
          lines.push(line);
          for (const w of waiters.filter((x) => x.match(line))) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      },
    },
  });
  return {
    logger,
    raw,
    lines,
    waitFor(match) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}
