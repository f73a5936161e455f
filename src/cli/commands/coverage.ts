// `fhir-bridge coverage`: how much of the source the connector's mappings use. Every table and column of
// the source, what reads it or why the connector leaves it out (`ignore:`); rows read / exported / rejected
// per table from an export's summary.json (`--summary`). Exit 1 when a column is neither used nor ignored,
// so a CI job can hold a mapping set to "nothing left behind".
import { readFile } from 'node:fs/promises';
import { coverageText, type RowsByTable } from '../../coverage/coverage-text.js';
import { sourceCoverage } from '../../coverage/source-coverage.js';
import type { CliIo } from '../io.js';
import { UsageError } from '../options.js';
import { runCommand } from '../run-command.js';

export interface CoverageOptions {
  connector?: string;
  /** an export's summary.json: rows per table */
  summary?: string;
  json?: boolean;
  /** print only the tables with unused columns, and those columns */
  unused?: boolean;
}

export async function coverageCommand(options: CoverageOptions, io: CliIo): Promise<number> {
  return runCommand(io, async (scope) => {
    const rows = options.summary === undefined ? undefined : await summaryRows(options.summary);
    const source = await scope.openSource(options.connector);
    const coverage = await sourceCoverage(source.adapter, source.mappings, source.config.ignore);
    if (options.json) {
      const tables = coverage.tables.map((t) => ({ ...t, ...(rows?.[t.table] ? { rows: rows[t.table] } : {}) }));
      io.out(JSON.stringify({ connector: source.config.name, ...coverage, tables }, null, 2));
    } else io.out(coverageText(coverage, rows, { onlyUnused: Boolean(options.unused) }));
    if (coverage.unused.length > 0) {
      io.err(
        `${coverage.unused.length} column${coverage.unused.length === 1 ? '' : 's'} neither mapped nor ignored: ${coverage.unused.join(', ')} ` +
          `(map them, or list them under ignore: in ${source.config.file} with the reason)`,
      );
      return 1;
    }
    return 0;
  });
}

async function summaryRows(file: string): Promise<RowsByTable> {
  let parsed: { sources?: RowsByTable };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as { sources?: RowsByTable };
  } catch (err) {
    throw new UsageError(`--summary ${file}: ${(err as Error).message}`);
  }
  if (!parsed.sources) throw new UsageError(`--summary ${file}: no "sources" section (written by fhir-bridge export from this version on)`);
  return parsed.sources;
}
