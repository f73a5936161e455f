// `fhir-bridge preview <mapping>`: the first rows of a mapping's source and what they become, so a mapping
// author sees the effect of an edit without running a whole export.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Row } from '../../connectors/types.js';
import type { CompiledMapping } from '../../mapping/types.js';
import { fetchChildRows } from '../../pipeline/child-rows.js';
import { issueDiagnostics } from '../../pipeline/issue-outcome.js';
import type { OpenedSource } from '../../pipeline/open-source.js';
import type { CliIo } from '../io.js';
import { positiveInt, UsageError } from '../options.js';
import { runCommand } from '../run-command.js';

export interface PreviewOptions {
  connector?: string;
  limit?: string | number;
  /** print one JSON document instead of the annotated text */
  json?: boolean;
}

export interface PreviewItem {
  row: Row;
  children?: Record<string, Row[]>;
  resources: unknown[];
  issues: string[];
}

export async function previewCommand(target: string, options: PreviewOptions, io: CliIo): Promise<number> {
  return runCommand(io, async (scope) => {
    const limit = positiveInt('--limit', options.limit, 5);
    const source = await scope.openSource(options.connector);
    const mapping = findMapping(source, target);
    const items = await previewMapping(source, mapping, limit);
    if (options.json) {
      io.out(JSON.stringify({ mapping: mapping.name, file: mapping.file, items }, null, 2));
    } else {
      io.out(`mapping ${mapping.name} (${mapping.file}): ${items.length} row${items.length === 1 ? '' : 's'}`);
      items.forEach((item, i) => {
        io.out(`\n── row ${i + 1} ${'─'.repeat(60)}`);
        io.out(JSON.stringify(item.row, jsonSafe, 2));
        for (const [name, rows] of Object.entries(item.children ?? {}))
          io.out(`children ${name}: ${rows.length} row${rows.length === 1 ? '' : 's'}`);
        io.out(`→ ${item.resources.length} resource${item.resources.length === 1 ? '' : 's'}`);
        for (const r of item.resources) io.out(JSON.stringify(r, null, 2));
        for (const issue of item.issues) io.out(`issue: ${issue}`);
      });
    }
    return 0;
  });
}

export async function previewMapping(source: OpenedSource, mapping: CompiledMapping, limit: number): Promise<PreviewItem[]> {
  const rows: Row[] = [];
  for await (const row of source.adapter.stream({ ...mapping.source.query, limit }, { batchSize: limit })) {
    rows.push(row);
    if (rows.length >= limit) break;
  }
  const children = mapping.children.length > 0 ? await fetchChildRows(source.adapter, mapping.children, rows) : undefined;
  return rows.map((row, i) => {
    const result = mapping.map(row, children?.[i]);
    return {
      row,
      ...(children ? { children: children[i] } : {}),
      resources: result.resources,
      issues: result.issues.map(issueDiagnostics),
    };
  });
}

/** A mapping by name, or the (first) mapping of a file of the connector's set. */
export function findMapping(source: OpenedSource, target: string): CompiledMapping {
  const byName = source.mappings.byName.get(target);
  if (byName) return byName;
  if (existsSync(target)) {
    const file = resolve(target);
    const inFile = source.mappings.mappings.find((m) => m.file === file);
    if (inFile) return inFile;
    throw new UsageError(`${target} is not one of the mappings of connector ${source.config.name} (${source.config.mappings.join(', ')})`);
  }
  const names = source.mappings.mappings.map((m) => m.name);
  throw new UsageError(`no mapping named '${target}'; known: ${names.join(', ')}`);
}

/** BIGINT columns arrive as bigint in some drivers; JSON.stringify cannot print them. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
