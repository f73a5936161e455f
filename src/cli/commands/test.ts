// `fhir-bridge test [paths...]`: the mapping unit tests (*.test.yaml) of the given folders or files, or of
// the connector's mapping folders. Exit 1 when a case fails or a test file cannot be read.
import { defaultConnectorFile, loadConnectorConfig } from '../../connectors/index.js';
import { runMappingTests } from '../../mapping/index.js';
import { shortPath } from '../format.js';
import type { CliIo } from '../io.js';
import { runCommand } from '../run-command.js';

export interface TestOptions {
  connector?: string;
}

export async function testCommand(paths: string[], options: TestOptions, io: CliIo): Promise<number> {
  return runCommand(io, async () => {
    const config = paths.length > 0 ? undefined : await loadConnectorConfig(options.connector ?? defaultConnectorFile());
    const report = await runMappingTests(config ? config.mappings : paths, config ? { timezone: config.timezone } : {});
    for (const c of report.cases) {
      if (c.passed) io.out(`  ok    ${c.mapping}: ${c.name}`);
      else io.out(`  FAIL  ${c.mapping}: ${c.name}\n${indent(c.failure ?? '(no details)')}`);
    }
    for (const e of report.errors) io.err(`error: ${e.message}`);
    if (report.files.length === 0) {
      io.err(`no mapping tests (*.test.yaml) found in ${(config ? config.mappings : paths).map(shortPath).join(', ')}`);
      return 1;
    }
    const summary = `${report.passed} passed, ${report.failed} failed in ${report.files.length} test file${report.files.length === 1 ? '' : 's'}`;
    if (report.failed > 0 || report.errors.length > 0) {
      io.err(`${summary}${report.errors.length > 0 ? `, ${report.errors.length} error${report.errors.length === 1 ? '' : 's'}` : ''}`);
      return 1;
    }
    io.out(summary);
    return 0;
  });
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `        ${l}`)
    .join('\n');
}
