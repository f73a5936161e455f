// `fhir-bridge validate`: are the mapping files well formed, and does every column they name exist in the
// source? Each problem is printed as file:line:col so an editor can jump to it.
import { redactConnection } from '../../connectors/index.js';
import { formatLocation } from '../../errors.js';
import { checkColumns } from '../../mapping/check-columns.js';
import { openSource, type OpenedSource } from '../../pipeline/open-source.js';
import type { CliIo } from '../io.js';
import { runCommand } from '../run-command.js';
import { checkChildIndexes } from './child-indexes.js';

export interface ValidateOptions {
  connector?: string;
}

export async function validateCommand(options: ValidateOptions, io: CliIo): Promise<number> {
  return runCommand(io, async () => {
    // Every malformed mapping is reported (MappingErrors) before any connection is made. The column check
    // that openSource makes for export and serve is made here instead, so that its problems are listed
    // beside the warnings and a summary rather than thrown.
    const source = await openSource(options.connector, { checkColumns: false });
    try {
      return await report(source, io);
    } finally {
      await source.close();
    }
  });
}

async function report(source: OpenedSource, io: CliIo): Promise<number> {
  const { config, adapter, mappings: set } = source;
  const problems = await checkColumns(adapter, set.mappings);
  for (const p of problems) io.err(`error: ${formatLocation(p.location)}: mapping ${p.mapping}: ${p.message}`);
  // Warnings leave the exit code alone: a missing index is slow, not wrong.
  for (const w of await checkChildIndexes(adapter, set.mappings)) io.err(`warning: ${formatLocation(w.location)}: ${w.message}`);
  const queries = set.mappings.reduce((n, m) => n + 1 + m.children.length, 0);
  if (problems.length > 0) {
    io.err(
      `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${set.mappings.length} mappings checked against ${redactConnection(config)}`,
    );
    return 1;
  }
  io.out(`ok: ${set.mappings.length} mappings, ${queries} queries, every column found in ${redactConnection(config)}`);
  return 0;
}
