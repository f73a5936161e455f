// A SourceCoverage as text for a terminal: one block per table (its mappings and, when an export's
// summary.json is given, its rows read / exported / rejected), one line per column (what uses it, why it is
// ignored, or UNUSED), and a closing count.
import type { SourceRowCounts } from '../pipeline/types.js';
import type { SourceCoverage } from './source-coverage.js';

export type RowsByTable = Record<string, SourceRowCounts>;

export function coverageText(coverage: SourceCoverage, rows?: RowsByTable, options: { onlyUnused?: boolean } = {}): string {
  const lines: string[] = [];
  for (const t of coverage.tables) {
    const unused = t.columns.filter((c) => c.status === 'unused');
    if (options.onlyUnused && unused.length === 0) continue;
    const r = rows?.[t.table];
    const readBy = t.mappings.length > 0 ? `read by ${t.mappings.join(', ')}` : 'read by no mapping';
    const counts = r ? `; rows read ${r.read}, exported ${r.exported}, rejected ${r.rejected}` : '';
    lines.push(`${t.table} (${readBy}${t.ignored !== undefined ? `; ignored: ${t.ignored}` : ''}${counts})`);
    const width = Math.max(0, ...t.columns.map((c) => c.column.length));
    for (const c of options.onlyUnused ? unused : t.columns) {
      const what =
        c.status === 'mapped'
          ? c.uses.map((u) => (u.element === 'sql' ? `sql (${u.mapping})` : `${u.element} (${u.mapping})`)).join(', ')
          : c.status === 'ignored'
            ? `ignored: ${c.reason}`
            : 'UNUSED';
      lines.push(`  ${c.column.padEnd(width)}  ${what}`);
    }
  }
  const all = coverage.tables.flatMap((t) => t.columns);
  const count = (s: string) => all.filter((c) => c.status === s).length;
  for (const s of coverage.staleIgnores) lines.push(`warning: ignore: ${s} is not in the source`);
  for (const c of coverage.ignoredButMapped) lines.push(`warning: ignore: ${c} is mapped, yet listed as left out`);
  for (const t of coverage.notListed) lines.push(`note: table ${t} is read by a mapping but not listed by the source's catalogue`);
  lines.push(
    `${coverage.tables.length} tables, ${all.length} columns: ${count('mapped')} mapped, ${count('ignored')} ignored, ${count('unused')} unused` +
      (coverage.unused.length === 0 ? ' (every column accounted for)' : ''),
  );
  return lines.join('\n');
}
