#!/usr/bin/env node
// The `fhir-bridge` command. Each subcommand lives in commands/ as a function returning its exit code, so
// tests can run it in-process; this file only wires options to those functions. `serve` and `clients`
// (the $export server and its client registry) register their own options.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { registerClientsCommand } from './commands/clients.js';
import { coverageCommand } from './commands/coverage.js';
import { exportCommand } from './commands/export.js';
import { loadCsvCommand } from './commands/load-csv.js';
import { loadSampleCommand } from './commands/load-sample.js';
import { previewCommand } from './commands/preview.js';
import { registerServeCommand } from './commands/serve.js';
import { registerWorkerCommand } from './commands/worker.js';
import { testCommand } from './commands/test.js';
import { validateCommand } from './commands/validate.js';
import { validateOutputCommand, type ValidateOutputOptions } from './commands/validate-output.js';
import { invokedDirectly } from './invoked-directly.js';
import { processIo, type CliIo } from './io.js';

/** The version in package.json, two folders up from src/cli/ and dist/cli/ alike (npm always packs it). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export async function buildProgram(options: { io?: (verbose: boolean) => CliIo; signal?: AbortSignal } = {}): Promise<Command> {
  const program = new Command();
  const makeIo = options.io ?? ((verbose: boolean) => processIo({ verbose }));
  const io = (): CliIo => makeIo(Boolean(program.opts<{ verbose?: boolean }>().verbose));
  const done = (code: number): void => {
    process.exitCode = code;
  };
  const connectorOption = (): Option =>
    new Option('-c, --connector <file>', 'connector YAML file (default: the embedded Synthea sample in SQLite)');

  program
    .name('fhir-bridge')
    .description('Expose legacy SQL and flat-file data as bulk FHIR R4 through declarative YAML mappings')
    .version(packageVersion(), '-V, --version', 'print the version of fhir-bridge')
    .option('-v, --verbose', 'print stack traces and debug details')
    .showHelpAfterError();

  program
    .command('export')
    .description('export resources to NDJSON files (one set per resourceType) and summary.json')
    .addOption(connectorOption())
    .option('-o, --out <dir>', 'output folder', './out')
    .option('-t, --types <list>', 'only these resourceTypes, comma-separated (repeatable)', collect)
    .option('--since <instant>', 'only rows changed after this instant (mappings with a lastUpdated column)')
    .option('--max-per-file <n>', 'resources per file before the next part starts', '100000')
    .option('--gzip', 'gzip the files (.ndjson.gz)')
    .option('-p, --patient <id...>', 'only these patients (source patient ids; repeatable or comma-separated)')
    .option('--batch-size <n>', 'parent rows per child query')
    .option(
      '--concurrency <n>',
      'mappings, or parts of a source exported in parts, mapped at the same time on this thread (default: 2 for a database server, 1 for files or beside pool threads)',
    )
    .option(
      '--workers <n>',
      'threads that read, map and write the parts of a CSV, DuckDB or PostgreSQL source: this one and n-1 pool threads (default: the cores, less a quarter beside a database on this machine; 0 or 1: this thread only)',
    )
    .option('--no-validate', 'skip profile validation (by default a resource failing its profile goes to the error file)')
    .action(async (opts: Record<string, unknown>) => {
      const stop = options.signal ? undefined : cancelOnSigint();
      try {
        done(await exportCommand({ ...opts, signal: options.signal ?? stop!.signal }, io()));
      } finally {
        stop?.dispose();
      }
    });

  program
    .command('validate')
    .description('check the mapping files and that every column they name exists in the source')
    .addOption(connectorOption())
    .action(async (opts: { connector?: string }) => done(await validateCommand(opts, io())));

  program
    .command('coverage')
    .description('every table and column of the source: the mapping elements that use it, ignored (with the reason) or unused')
    .addOption(connectorOption())
    .option('--summary <file>', "an export's summary.json: rows read / exported / rejected per table")
    .option('--unused', 'list only the columns neither used nor ignored')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: { connector?: string; summary?: string; json?: boolean; unused?: boolean }) =>
      done(await coverageCommand(opts, io())),
    );

  program
    .command('validate-output')
    .description(
      'validate the NDJSON files of a folder against their profiles (meta.profile, else the base type) and report must-support coverage',
    )
    .argument('<dir>', 'folder of .ndjson / .ndjson.gz files (an export of this tool or of another system)')
    .option('--html <file>', 'also write the report as one self-contained HTML page')
    .option('--json <file>', 'also write the report as JSON')
    .option('--issues <n>', 'distinct issues to print', '20')
    .option('--package <tgz...>', 'FHIR package files to validate against (default: the shipped US Core 6.1.0 and CARIN BB 2.0.0)')
    .option('--no-coverage', 'leave the must-support table out of the printed report')
    .action(async (dir: string, opts: ValidateOutputOptions) => done(await validateOutputCommand(dir, opts, io())));

  program
    .command('preview')
    .description('show the first rows of a mapping and the resources (and issues) they become')
    .argument('<mapping>', 'mapping name or file')
    .addOption(connectorOption())
    .option('-n, --limit <n>', 'rows', '5')
    .option('--json', 'print JSON instead of annotated text')
    .action(async (target: string, opts: { connector?: string; limit?: string; json?: boolean }) =>
      done(await previewCommand(target, opts, io())),
    );

  program
    .command('test')
    .description("run the mappings' unit tests (*.test.yaml)")
    .argument('[paths...]', "mapping folders or test files (default: the connector's mapping folders)")
    .addOption(connectorOption())
    .action(async (paths: string[], opts: { connector?: string }) => done(await testCommand(paths, opts, io())));

  program
    .command('load-sample')
    .description('load the shipped Synthea sample into the database of a connector (sqlite, postgres, mysql)')
    .requiredOption('--into <connector-file>', 'connector YAML file naming the target database')
    .option('--copies <n>', 'load the sample this many times over (ids rewritten per copy)', '1')
    .option('--replace', "drop the sample's tables first when they exist")
    .action(async (opts: { into: string; copies?: string; replace?: boolean }) => done(await loadSampleCommand(opts, io())));

  program
    .command('load-csv')
    .description('load a folder of CSV files into the database of a connector (sqlite, postgres, mysql) as a table schema file says')
    .requiredOption(
      '--schema <tables-file>',
      'table schema YAML: tables, column kinds, primary keys, indexes (e.g. connectors/tables/omop-cdm54.yaml)',
    )
    .requiredOption('--from <folder>', 'folder holding the CSV files (.csv or .csv.gz, any case)')
    .requiredOption('--into <connector-file>', 'connector YAML file naming the target database')
    .option('--table <name>', 'load only this table of the schema (repeatable)', collect)
    .option('--replace', "drop the schema's tables first when they exist")
    .action(async (opts: { schema: string; from: string; into: string; table?: string[]; replace?: boolean }) =>
      done(await loadCsvCommand(opts, io())),
    );

  registerServeCommand(program);
  registerWorkerCommand(program);
  registerClientsCommand(program);
  return program;
}

/** First Ctrl-C stops the export cleanly (its partial files removed); a second one ends the process. */
function cancelOnSigint(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export async function main(argv: string[] = process.argv): Promise<void> {
  // `fhir-bridge preview x | head`: a closed pipe means the reader has seen enough, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = await buildProgram();
  await program.parseAsync(argv);
}

if (invokedDirectly(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
