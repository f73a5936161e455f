// Mapping tests (`*.test.yaml` beside the mappings): a row (and child rows) → the resources and issues it
// must give. Each case is compared as JSON; a failure names the test file:line of the case (and of the
// first differing expected field) and lists every difference as a path.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatLocation, MappingError, MappingErrors, type SourceLocation } from '../errors.js';
import type { Row } from '../connectors/types.js';
import { loadMappingSet, mappingFiles } from './load.js';
import type { CompileOptions } from './set.js';
import { isPlainObject } from './lookups.js';
import { parseYamlFile, type ParsedDocument, type Path } from './parse.js';
import type { CompiledMappingSet, MapResult } from './types.js';

export interface MappingTestCaseResult {
  file: string;
  /** where the case starts in the test file */
  location: SourceLocation;
  mapping: string;
  name: string;
  passed: boolean;
  /** readable differences, one per line; the first line names the test file:line:column */
  failure?: string;
  /** what map() returned for the case's row (absent when it could not run) */
  actual?: MapResult;
}

export interface MappingTestReport {
  files: string[];
  passed: number;
  failed: number;
  cases: MappingTestCaseResult[];
  /** test files (or the mappings they test) that could not be compiled: every case of them counts as failed */
  errors: MappingError[];
}

export interface MappingTestOptions {
  /** zone used when a test file sets none (default UTC) */
  timezone?: string;
  /** how templates run (see CompileOptions.engine) */
  engine?: CompileOptions['engine'];
}

const FILE_KEYS = ['mapping', 'timezone', 'cases'];
const CASE_KEYS = ['name', 'row', 'children', 'expect', 'issues', 'compare'];

/** Runs every *.test.yaml under `paths` (folders or files) against the mappings of the test file's folder. */
export async function runMappingTests(paths: string[], options: MappingTestOptions = {}): Promise<MappingTestReport> {
  const files = (await mappingFiles(paths, 'test')).filter((f) => /\.test\.ya?ml$/i.test(f));
  const report: MappingTestReport = { files, passed: 0, failed: 0, cases: [], errors: [] };
  const sets = new Map<string, Promise<CompiledMappingSet | MappingErrors>>();
  for (const file of files) {
    const parsed = parseYamlFile(await readFile(file, 'utf8'), file);
    report.errors.push(...parsed.errors);
    for (const doc of parsed.documents) {
      const v = doc.value;
      if (!isPlainObject(v)) {
        report.errors.push(new MappingError('a mapping test file is { mapping, cases: [...] }', doc.location));
        continue;
      }
      const bad = Object.keys(v).filter((k) => !FILE_KEYS.includes(k));
      for (const k of bad)
        report.errors.push(
          new MappingError(`unknown key "${k}" in a mapping test: expected one of ${FILE_KEYS.join(', ')}`, doc.locate([k], true)),
        );
      const tz = typeof v.timezone === 'string' ? v.timezone : options.timezone;
      const setKey = `${dirname(file)}\u0000${tz ?? ''}`;
      if (!sets.has(setKey))
        sets.set(
          setKey,
          loadMappingSet([dirname(file)], { ...(tz ? { timezone: tz } : {}), ...(options.engine ? { engine: options.engine } : {}) }).catch(
            (e: unknown) => {
              if (e instanceof MappingErrors) return e;
              throw e;
            },
          ),
        );
      const set = await sets.get(setKey)!;
      const cases = Array.isArray(v.cases) ? v.cases : [];
      if (!Array.isArray(v.cases))
        report.errors.push(
          new MappingError('expected "cases": a list of { name, row, expect, ... }', doc.locate(v.cases === undefined ? [] : ['cases'])),
        );
      const mappingName = typeof v.mapping === 'string' ? v.mapping : '';
      let problem: string | undefined;
      if (set instanceof MappingErrors) problem = `the mappings in ${dirname(file)} do not compile:\n${set.message}`;
      else if (!set.byName.has(mappingName)) {
        problem = `unknown mapping ${JSON.stringify(v.mapping)}: expected one of ${[...set.byName.keys()].join(', ')}`;
        report.errors.push(new MappingError(problem, doc.locate(v.mapping === undefined ? [] : ['mapping'])));
      }
      cases.forEach((c, i) => {
        const result = runCase(doc, file, mappingName, c, i, problem ? undefined : (set as CompiledMappingSet));
        if (problem && !result.failure) Object.assign(result, { passed: false, failure: `${formatLocation(result.location)}: ${problem}` });
        report.cases.push(result);
        if (result.passed) report.passed++;
        else report.failed++;
      });
    }
  }
  return report;
}

function runCase(
  doc: ParsedDocument,
  file: string,
  mappingName: string,
  c: unknown,
  i: number,
  set: CompiledMappingSet | undefined,
): MappingTestCaseResult {
  const location = doc.locate(['cases', i]);
  const name = isPlainObject(c) && typeof c.name === 'string' ? c.name : `case ${i + 1}`;
  const result: MappingTestCaseResult = { file, location, mapping: mappingName, name, passed: false };
  const fail = (lines: string[], at: SourceLocation = location): MappingTestCaseResult => {
    result.failure = [`${formatLocation(at)}: ${name}`, ...lines.map((l) => `  ${l}`)].join('\n');
    return result;
  };
  if (!isPlainObject(c)) return fail(['expected { name, row, children?, expect, issues?, compare? }']);
  const unknown = Object.keys(c).filter((k) => !CASE_KEYS.includes(k));
  if (unknown.length > 0)
    return fail([`unknown key(s) ${unknown.join(', ')}: expected ${CASE_KEYS.join(', ')}`], doc.locate(['cases', i, unknown[0]!], true));
  if (!isPlainObject(c.row)) return fail(['"row" must be a map of column → value'], doc.locate(['cases', i, 'row']));
  if (c.compare !== undefined && c.compare !== 'exact' && c.compare !== 'subset')
    return fail(['"compare" is exact (default) or subset'], doc.locate(['cases', i, 'compare']));
  if (!Array.isArray(c.expect))
    return fail(
      ['"expect" must be a list of resources (possibly empty)'],
      doc.locate(['cases', i, c.expect === undefined ? 'name' : 'expect']),
    );
  if (!set) return result;
  const mapping = set.byName.get(mappingName)!;
  const children: Record<string, Row[]> = {};
  if (c.children !== undefined && c.children !== null) {
    if (!isPlainObject(c.children)) return fail(['"children" must map child name → list of rows'], doc.locate(['cases', i, 'children']));
    for (const [k, rows] of Object.entries(c.children)) {
      if (!mapping.children.some((ch) => ch.name === k))
        return fail(
          [`mapping ${mappingName} has no child "${k}" (children: ${mapping.children.map((ch) => ch.name).join(', ') || 'none'})`],
          doc.locate(['cases', i, 'children', k], true),
        );
      children[k] = (Array.isArray(rows) ? rows : []).map(lowerKeys);
    }
  }
  let actual: MapResult;
  try {
    actual = mapping.map(lowerKeys(c.row), children);
  } catch (e) {
    return fail([`map() threw: ${(e as Error).message}`]);
  }
  result.actual = actual;
  const diffs: Array<{ path: Path; text: string }> = [];
  const subset = c.compare === 'subset';
  const got = JSON.parse(JSON.stringify(actual.resources)) as unknown[];
  if (got.length !== c.expect.length) {
    diffs.push({
      path: ['expect'],
      text: `expected ${c.expect.length} resource(s), got ${got.length}: ${got.map((r) => describe(r)).join(', ') || 'none'}`,
    });
  }
  for (let k = 0; k < Math.min(got.length, c.expect.length); k++) {
    compare(c.expect[k], got[k], ['expect', k], subset, diffs);
  }
  issueDiffs(c.issues, actual, diffs);
  if (diffs.length === 0) {
    result.passed = true;
    return result;
  }
  const first = diffs[0]!.path;
  const at = first.length > 0 ? doc.locate(['cases', i, ...first]) : location;
  const lines = diffs.map((d) => `${pathText(d.path)}: ${d.text}`);
  if (actual.issues.length > 0)
    lines.push(`issues: ${actual.issues.map((x) => `${x.code}${x.column ? ` (${x.column})` : ''}: ${x.message}`).join('; ')}`);
  return fail(lines, at);
}

function lowerKeys(row: unknown): Row {
  const out: Row = {};
  if (isPlainObject(row)) for (const [k, v] of Object.entries(row)) out[k.toLowerCase()] = v;
  return out;
}

function describe(r: unknown): string {
  const o = r as { resourceType?: string; id?: string };
  return `${o.resourceType}/${o.id}`;
}

function pathText(p: Path): string {
  let out = '';
  for (const s of p) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'nothing' : s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** Differences between expected and actual JSON; with `subset`, actual may have more fields/items. */
function compare(exp: unknown, act: unknown, path: Path, subset: boolean, out: Array<{ path: Path; text: string }>): void {
  if (Array.isArray(exp)) {
    if (!Array.isArray(act)) {
      out.push({ path, text: `expected ${show(exp)}, got ${show(act)}` });
      return;
    }
    if (subset ? act.length < exp.length : act.length !== exp.length) {
      out.push({ path, text: `expected ${exp.length} item(s), got ${act.length}: ${show(act)}` });
    }
    for (let i = 0; i < Math.min(exp.length, act.length); i++) compare(exp[i], act[i], [...path, i], subset, out);
    return;
  }
  if (isPlainObject(exp)) {
    if (!isPlainObject(act)) {
      out.push({ path, text: `expected ${show(exp)}, got ${show(act)}` });
      return;
    }
    for (const [k, v] of Object.entries(exp)) {
      if (!(k in act)) out.push({ path: [...path, k], text: `missing (expected ${show(v)})` });
      else compare(v, act[k], [...path, k], subset, out);
    }
    if (!subset) for (const k of Object.keys(act)) if (!(k in exp)) out.push({ path, text: `unexpected ${k}: ${show(act[k])}` });
    return;
  }
  if (exp !== act) out.push({ path, text: `expected ${show(exp)}, got ${show(act)}` });
}

function issueDiffs(expected: unknown, actual: MapResult, out: Array<{ path: Path; text: string }>): void {
  const list = expected === undefined || expected === null ? [] : Array.isArray(expected) ? expected : undefined;
  if (!list) {
    out.push({ path: ['issues'], text: 'expected a list of { code, column? }' });
    return;
  }
  // Information issues ("row matched no resource") only count when the case asks about them.
  const wantsInfo = list.some((e) => isPlainObject(e) && e.code === 'not-supported');
  const remaining = actual.issues.filter((x) => wantsInfo || x.severity !== 'information');
  list.forEach((e, k) => {
    if (!isPlainObject(e) || typeof e.code !== 'string') {
      out.push({ path: ['issues', k], text: 'expected { code, column? }' });
      return;
    }
    const col = typeof e.column === 'string' ? e.column.toLowerCase() : undefined;
    const at = remaining.findIndex((x) => x.code === e.code && (col === undefined || x.column?.toLowerCase() === col));
    if (at < 0)
      out.push({
        path: ['issues', k],
        text: `expected an issue ${show(e)}, got ${remaining.length ? remaining.map((x) => `${x.code}${x.column ? `/${x.column}` : ''}`).join(', ') : 'none'}`,
      });
    else remaining.splice(at, 1);
  });
  for (const x of remaining)
    out.push({ path: ['issues'], text: `unexpected issue ${x.code}${x.column ? ` (column ${x.column})` : ''}: ${x.message}` });
}

/** The report as text for a terminal: failures with their diffs, then a summary line. */
export function formatMappingTestReport(report: MappingTestReport): string {
  const lines: string[] = [];
  for (const e of report.errors) lines.push(`error ${e.message}`);
  for (const c of report.cases) if (!c.passed) lines.push(`FAIL ${c.failure ?? `${formatLocation(c.location)}: ${c.name}`}`);
  lines.push(
    `${report.passed} passed, ${report.failed} failed (${report.cases.length} cases in ${report.files.length} files)${report.errors.length ? `, ${report.errors.length} errors` : ''}`,
  );
  return lines.join('\n');
}
