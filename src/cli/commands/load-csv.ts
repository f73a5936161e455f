// `fhir-bridge load-csv --schema <tables.yaml> --from <folder> --into <connector>`: any CSV folder into the
// connector's database (SQLite, PostgreSQL, MariaDB) with the column types, keys and indexes the table
// schema file gives (src/sample/table-schema.ts), e.g. the OMOP CDM sample for the omop-* connectors.
import path from 'node:path';
import { loadConnectorConfig, redactConnection } from '../../connectors/index.js';
import { loadCsv } from '../../sample/load-csv.js';
import { readTableSchema } from '../../sample/table-schema.js';
import { duration, table } from '../format.js';
import type { CliIo } from '../io.js';
import { runCommand } from '../run-command.js';

export interface LoadCsvCommandOptions {
  schema: string;
  from: string;
  into: string;
  replace?: boolean;
  table?: string[];
}

export async function loadCsvCommand(options: LoadCsvCommandOptions, io: CliIo): Promise<number> {
  return runCommand(io, async () => {
    const schema = await readTableSchema(path.resolve(options.schema));
    const config = await loadConnectorConfig(options.into);
    io.err(`loading ${path.resolve(options.from)} into ${redactConnection(config)}`);
    const result = await loadCsv(config, schema, {
      folder: path.resolve(options.from),
      replace: Boolean(options.replace),
      tables: options.table?.length ? options.table : undefined,
      onTable: (name, i, total) => io.err(`  ${name} (${i + 1}/${total})`),
    });
    const rows = Object.entries(result.tables);
    io.out(table(['table', 'rows'], rows, [false, true]));
    io.out(`loaded ${rows.reduce((n, [, r]) => n + r, 0)} rows in ${duration(result.durationMs)}`);
    return 0;
  });
}
