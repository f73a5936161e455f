// `fhir-bridge load-sample --into <connector>`: the shipped Synthea sample into the connector's database
// (SQLite, PostgreSQL, MariaDB), optionally many times over for load tests.
import { loadConnectorConfig, redactConnection } from '../../connectors/index.js';
import { loadSample } from '../../sample/load-sample.js';
import { duration, table } from '../format.js';
import type { CliIo } from '../io.js';
import { positiveInt } from '../options.js';
import { runCommand } from '../run-command.js';

export interface LoadSampleCommandOptions {
  into: string;
  copies?: string | number;
  replace?: boolean;
}

export async function loadSampleCommand(options: LoadSampleCommandOptions, io: CliIo): Promise<number> {
  return runCommand(io, async () => {
    const copies = positiveInt('--copies', options.copies, 1);
    const config = await loadConnectorConfig(options.into);
    io.err(`loading the Synthea sample ${copies > 1 ? `${copies} times ` : ''}into ${redactConnection(config)}`);
    let lastTable = '';
    const result = await loadSample(config, {
      sample: 'synthea',
      copies,
      replace: Boolean(options.replace),
      onProgress: (p) => {
        if (p.table !== lastTable) {
          lastTable = p.table;
          io.err(`  ${p.table} (${p.tablesDone + 1}/${p.tablesTotal})`);
        }
      },
      onBadRow: (issue) =>
        io.err(`  ${issue.file}:${issue.line}: ${issue.message} (${issue.severity === 'error' ? 'line skipped' : 'loaded as read'})`),
    });
    const rows = Object.entries(result.tables).sort(([a], [b]) => a.localeCompare(b));
    io.out(table(['table', 'rows'], rows, [false, true]));
    io.out(`loaded ${rows.reduce((n, [, r]) => n + r, 0)} rows in ${duration(result.durationMs)}`);
    const skipped = result.badRows.filter((i) => i.severity === 'error').length;
    if (result.badRows.length > 0)
      io.out(`${skipped} CSV line(s) skipped, ${result.badRows.length - skipped} loaded with bytes not valid UTF-8 (listed above)`);
    return 0;
  });
}
