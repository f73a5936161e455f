// Turns a failure into what a person at a terminal needs: every located mapping error on its own line as
// file:line:col, connector failures as one sentence, and a stack trace only when asked for.
import { FhirBridgeError, MappingErrors } from '../errors.js';
import type { CliIo } from './io.js';

export function reportError(err: unknown, io: CliIo): void {
  if (err instanceof MappingErrors) {
    for (const e of err.errors) io.err(`error: ${e.message}`);
    io.err(`${err.errors.length} mapping error${err.errors.length === 1 ? '' : 's'}`);
  } else if (err instanceof FhirBridgeError) {
    io.err(`error: ${err.message}`);
  } else if (isAbort(err)) {
    io.err('cancelled');
  } else {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`error: ${message}`);
    if (!io.verbose) io.err('(run with --verbose or LOG_LEVEL=debug for the stack trace)');
  }
  if (io.verbose && err instanceof Error && err.stack) io.err(err.stack);
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
