// How a validation report reads: plain-text tables for the terminal, and one self-contained HTML page
// (inline CSS, no scripts, nothing fetched) a person can open or attach.
import { table } from '../cli/format.js';
import type { CoverageRow } from './must-support.js';
import type { OutputReport } from './validate-ndjson.js';

const percent = (n: number, total: number): string => (total === 0 ? '-' : `${((100 * n) / total).toFixed(1)}%`);
/** The last path segment of a canonical URL: `us-core-patient`, `C4BB-Coverage`. */
const shortProfile = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

/** Coverage rows grouped by profile, in report order. */
function byProfile(rows: CoverageRow[]): Map<string, CoverageRow[]> {
  const out = new Map<string, CoverageRow[]>();
  for (const r of rows) {
    const list = out.get(r.profile) ?? [];
    list.push(r);
    out.set(r.profile, list);
  }
  return out;
}

export function formatProfileTable(report: OutputReport): string {
  return table(
    ['profile', 'resources', 'invalid', 'errors', 'warnings'],
    report.profiles.map((p) => [shortProfile(p.profile), p.resources, p.invalid, p.errors, p.warnings]),
    [false, true, true, true, true],
  );
}

export function formatIssueTable(report: OutputReport, limit: number): string {
  const rows = report.issues
    .slice(0, limit)
    .map((i) => [i.count, i.severity, i.code, shortProfile(i.profile), i.expression, i.message, `${i.first.file}:${i.first.line}`]);
  const more =
    report.issues.length > limit
      ? `\n… and ${report.issues.length - limit} more distinct issues (--issues n, --json or --html for all)`
      : '';
  return table(['count', 'severity', 'code', 'profile', 'element', 'message', 'first seen'], rows, [true]) + more;
}

export function formatCoverageTable(report: OutputReport): string {
  const parts: string[] = [];
  for (const [profile, rows] of byProfile(report.mustSupport)) {
    const total = rows[0]?.total ?? 0;
    parts.push(
      `${shortProfile(profile)} (${total} resources)\n${table(
        ['must-support element', 'populated', 'share'],
        rows.map((r) => [r.element, r.populated, percent(r.populated, r.total)]),
        [false, true, true],
      )}`,
    );
  }
  return parts.join('\n\n');
}

export function formatSummary(report: OutputReport): string {
  const rate = report.durationMs > 0 ? Math.round((report.resources / report.durationMs) * 1000) : report.resources;
  return (
    `${report.resources} resources in ${report.files.length} files: ${report.invalid} with errors, ` +
    `${report.errors} errors, ${report.warnings} warnings` +
    (report.unreadable.length ? `, ${report.unreadable.length} unreadable lines` : '') +
    ` (${report.durationMs} ms, ${rate} resources/s)`
  );
}

const esc = (s: string | number): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function htmlTable(headers: string[], rows: Array<Array<string | number>>, numeric: boolean[] = [], raw = false): string {
  const th = headers.map((h, i) => `<th${numeric[i] ? ' class="n"' : ''}>${esc(h)}</th>`).join('');
  const body = rows
    .map(
      (r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ''}>${raw && i === r.length - 1 ? c : esc(c)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export function formatHtml(report: OutputReport, title = 'fhir-bridge validation report'): string {
  const coverage = [...byProfile(report.mustSupport)]
    .map(([profile, rows]) => {
      const total = rows[0]?.total ?? 0;
      const body = htmlTable(
        ['must-support element', 'populated', 'share', ''],
        rows.map((r) => {
          const share = r.total ? r.populated / r.total : 0;
          const bar = `<span class="bar"><span style="width:${(share * 100).toFixed(1)}%"></span></span>`;
          return [r.element, r.populated, percent(r.populated, r.total), bar];
        }),
        [false, true, true, false],
        true,
      );
      return `<h3>${esc(shortProfile(profile))} <small>${esc(profile)} · ${total} resources</small></h3>\n${body}`;
    })
    .join('\n');
  const issues = htmlTable(
    ['count', 'severity', 'code', 'profile', 'element', 'message', 'first seen'],
    report.issues.map((i) => [
      i.count,
      i.severity,
      i.code,
      shortProfile(i.profile),
      i.expression,
      i.message,
      `${i.first.file}:${i.first.line}${i.first.id ? ` (${i.first.id})` : ''}`,
    ]),
    [true],
  );
  const profiles = htmlTable(
    ['profile', 'resources', 'invalid', 'errors', 'warnings'],
    report.profiles.map((p) => [p.profile, p.resources, p.invalid, p.errors, p.warnings]),
    [false, true, true, true, true],
  );
  const unreadable = report.unreadable.length
    ? `<h2>Unreadable lines</h2>${htmlTable(
        ['file', 'line', 'problem'],
        report.unreadable.map((u) => [u.file, u.line, u.message]),
        [false, true],
      )}`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.n{text-align:right}
small{color:#777;font-weight:normal}
.bar{display:inline-block;width:10em;height:.8em;background:#eee}.bar span{display:block;height:100%;background:#3a7}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(report.dir)}: ${esc(formatSummary(report))}</p>
<h2>Profiles</h2>
${profiles}
<h2>Issues</h2>
${issues}
${unreadable}
<h2>Must-support coverage</h2>
${coverage}
</body></html>
`;
}
