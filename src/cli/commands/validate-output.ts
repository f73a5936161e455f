// `fhir-bridge validate-output DIR`: validates every NDJSON file in a folder (an export of ours or another
// system's) against the profiles each resource names in meta.profile (else its base resource type), and
// prints per-profile counts, the distinct issues and the must-support coverage. --html writes the same as
// one self-contained page, --json as data. Exit 1 when there is any error (or an unreadable line).
import { stat, writeFile } from 'node:fs/promises';
import { createValidator } from '../../validation/index.js';
import { formatCoverageTable, formatHtml, formatIssueTable, formatProfileTable, formatSummary } from '../../validation/report.js';
import { validateNdjsonFolder } from '../../validation/validate-ndjson.js';
import { shortPath } from '../format.js';
import type { CliIo } from '../io.js';
import { runCommand } from '../run-command.js';

export interface ValidateOutputOptions {
  html?: string;
  json?: string;
  /** distinct issues printed (default 20) */
  issues?: string;
  /** FHIR package files (.tgz) to validate against instead of the shipped US Core 6.1.0 and CARIN BB 2.0.0 */
  package?: string[];
  /** leave the must-support table out of the terminal output */
  coverage?: boolean;
}

export async function validateOutputCommand(dir: string, options: ValidateOutputOptions, io: CliIo): Promise<number> {
  return runCommand(io, async () => {
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      io.err(`error: ${dir} is not a folder`);
      return 1;
    }
    const limit = options.issues === undefined ? 20 : Number(options.issues);
    if (!Number.isInteger(limit) || limit < 0) {
      io.err(`error: --issues must be a whole number, not ${JSON.stringify(options.issues)}`);
      return 1;
    }
    const validator = await createValidator(options.package?.length ? { packages: options.package } : {});
    const report = await validateNdjsonFolder(dir, validator);
    if (report.files.length === 0) {
      io.err(`error: no .ndjson files in ${shortPath(dir)}`);
      return 1;
    }
    io.out(formatProfileTable(report));
    if (report.issues.length > 0 && limit > 0) io.out(`\n${formatIssueTable(report, limit)}`);
    for (const u of report.unreadable.slice(0, limit)) io.err(`error: ${u.file}:${u.line}: not a JSON resource (${u.message})`);
    if (options.coverage !== false && report.mustSupport.length > 0) io.out(`\nMust-support coverage\n\n${formatCoverageTable(report)}`);
    if (options.html) {
      await writeFile(options.html, formatHtml(report));
      io.err(`wrote ${shortPath(options.html)}`);
    }
    if (options.json) {
      await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
      io.err(`wrote ${shortPath(options.json)}`);
    }
    io.err(formatSummary(report));
    return report.errors > 0 || report.unreadable.length > 0 ? 1 : 0;
  });
}
