// The frame every command runs in: a failure is reported the way a person at a terminal needs it
// (reportError) and becomes the exit code, and every source the command opened is closed, whatever
// happened. Commands then only say what they do, and none can forget to close a connection pool.
import { openSource, type OpenedSource } from '../pipeline/open-source.js';
import type { CliIo } from './io.js';
import { isAbort, reportError } from './report-error.js';

export interface CommandScope {
  /** Opens the connector's source (default: the embedded sample); closed when the command ends. */
  openSource(connectorFile?: string): Promise<OpenedSource>;
}

/** Runs `body`; returns its exit code, or 1 after reporting its failure (130 when it was cancelled). */
export async function runCommand(io: CliIo, body: (scope: CommandScope) => Promise<number>): Promise<number> {
  const opened: OpenedSource[] = [];
  try {
    return await body({
      openSource: async (connectorFile) => {
        const source = await openSource(connectorFile);
        opened.push(source);
        return source;
      },
    });
  } catch (err) {
    reportError(err, io);
    return isAbort(err) ? 130 : 1;
  } finally {
    for (const source of opened) await source.close().catch(() => undefined);
  }
}
