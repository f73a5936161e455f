// Lookups (concept maps): inline `map`, a CSV file beside the mapping, or a shared lookups/<name>.yaml.
// Loaded once at compile time into a Map keyed by trimmed (optionally lower-cased) text.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { MappingError, type SourceLocation } from '../errors.js';
import { parseYamlFile, type Path } from './parse.js';
import { LOOKUP_KEYS } from './vocabulary.js';

export interface Lookup {
  name: string;
  location: SourceLocation;
  ignoreCase: boolean;
  entries: Map<string, unknown>;
  /** value for codes not in `entries` (null: leave the element out) */
  fallback: unknown;
  /** without a default an unmapped code is a row error */
  hasDefault: boolean;
}

export interface Reporter {
  error(path: Path, message: string, key?: boolean): void;
  at(path: Path, key?: boolean): SourceLocation;
}

/** Compiles the `lookups:` section of a mapping. Errors go to `report`; broken lookups are left out. */
export function compileLookups(section: unknown, file: string, report: Reporter, path: Path = ['lookups']): Map<string, Lookup> {
  const out = new Map<string, Lookup>();
  if (section === undefined || section === null) return out;
  if (!isPlainObject(section)) {
    report.error(path, 'expected a map of lookup name → { map, default, file, ignoreCase } or { use }');
    return out;
  }
  for (const [name, def] of Object.entries(section)) {
    const p = [...path, name];
    const lookup = compileLookup(name, def, file, report, p);
    if (lookup) out.set(name, lookup);
  }
  return out;
}

function compileLookup(name: string, def: unknown, file: string, report: Reporter, p: Path): Lookup | undefined {
  if (!isPlainObject(def)) {
    report.error(p, `lookup "${name}": expected { map, default, file, ignoreCase } or { use: <shared lookup> }`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(def)) {
    if (!(LOOKUP_KEYS as readonly string[]).includes(k)) {
      report.error([...p, k], `unknown key "${k}" in lookup "${name}": expected one of ${LOOKUP_KEYS.join(', ')}`, true);
      ok = false;
    }
  }
  if (def.use !== undefined) {
    if (typeof def.use !== 'string' || !/^[\w.-]+$/.test(def.use)) {
      report.error([...p, 'use'], 'expected the name of a shared lookup (lookups/<name>.yaml beside the mapping)');
      return undefined;
    }
    const others = Object.keys(def).filter((k) => k !== 'use');
    if (others.length > 0) {
      report.error(
        [...p, others[0]!],
        `lookup "${name}" uses a shared lookup: put "${others[0]}" in lookups/${def.use}.yaml instead`,
        true,
      );
      return undefined;
    }
    return loadShared(name, def.use, file, report, [...p, 'use']);
  }
  if (!ok) return undefined;
  if (def.map === undefined && def.file === undefined) {
    report.error(p, `lookup "${name}" needs "map" or "file" (or "use")`);
    return undefined;
  }
  return build(name, def, file, report, p, report.at(p));
}

function build(
  name: string,
  def: Record<string, unknown>,
  file: string,
  report: Reporter,
  p: Path,
  location: SourceLocation,
): Lookup | undefined {
  if (def.ignoreCase !== undefined && typeof def.ignoreCase !== 'boolean') {
    report.error([...p, 'ignoreCase'], 'expected true or false');
    return undefined;
  }
  const ignoreCase = def.ignoreCase === true;
  const entries = new Map<string, unknown>();
  const norm = (k: string) => (ignoreCase ? k.trim().toLowerCase() : k.trim());
  if (def.file !== undefined) {
    if (typeof def.file !== 'string') {
      report.error([...p, 'file'], 'expected a CSV file name relative to the mapping file');
      return undefined;
    }
    const csvPath = resolve(dirname(file), def.file);
    let rows: Record<string, string>[];
    try {
      rows = parseCsv(readFileSync(csvPath), {
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        bom: true,
        skip_empty_lines: true,
        trim: true,
      });
    } catch (e) {
      report.error([...p, 'file'], `cannot read lookup file ${csvPath}: ${(e as Error).message}`);
      return undefined;
    }
    if (rows.length > 0 && !('source' in rows[0]!)) {
      report.error([...p, 'file'], `lookup file ${csvPath} needs a "source" column (columns: source,system,code,display)`);
      return undefined;
    }
    for (const r of rows) {
      const others = Object.keys(r).filter((k) => k !== 'source' && r[k] !== '');
      // source,value (or source,target) → plain strings; anything else → an object such as a Coding
      const value =
        others.length === 1 && (others[0] === 'value' || others[0] === 'target')
          ? r[others[0]]
          : Object.fromEntries(others.map((k) => [k, r[k]]));
      entries.set(norm(r.source ?? ''), value);
    }
  }
  if (def.map !== undefined) {
    if (!isPlainObject(def.map)) {
      report.error([...p, 'map'], 'expected a map of source code → value');
      return undefined;
    }
    for (const [k, v] of Object.entries(def.map)) entries.set(norm(k), v);
  }
  return { name, location, ignoreCase, entries, fallback: def.default ?? null, hasDefault: 'default' in def };
}

function loadShared(name: string, use: string, file: string, report: Reporter, usePath: Path): Lookup | undefined {
  const sharedFile = resolve(dirname(file), 'lookups', `${use}.yaml`);
  if (!existsSync(sharedFile)) {
    report.error(usePath, `unknown shared lookup "${use}": ${sharedFile} does not exist`);
    return undefined;
  }
  const parsed = parseYamlFile(readFileSync(sharedFile, 'utf8'), sharedFile);
  const errors: MappingError[] = [...parsed.errors];
  const doc = parsed.documents[0];
  let lookup: Lookup | undefined;
  if (doc) {
    const inner: Reporter = {
      error: (path, message, key) => errors.push(new MappingError(message, doc.locate(path, key))),
      at: (path, key) => doc.locate(path, key),
    };
    if (!isPlainObject(doc.value)) inner.error([], 'a shared lookup file holds { map, default, file, ignoreCase }');
    else {
      const bad = Object.keys(doc.value).filter((k) => k === 'use' || !(LOOKUP_KEYS as readonly string[]).includes(k));
      for (const k of bad) inner.error([k], `unknown key "${k}" in a shared lookup: expected map, default, file, ignoreCase`, true);
      if (bad.length === 0) lookup = build(name, doc.value, sharedFile, inner, [], doc.location);
    }
  } else if (errors.length === 0) {
    errors.push(new MappingError('empty shared lookup file', { file: sharedFile, line: 1, column: 1 }));
  }
  if (errors.length > 0) {
    for (const e of errors) report.error(usePath, `in shared lookup "${use}": ${e.message}`);
    return undefined;
  }
  return lookup;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Copies a JSON value, so that resources never share objects (the pipeline may edit them, e.g. _elements). */
export function cloneJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(cloneJson);
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = cloneJson((v as Record<string, unknown>)[k]);
  return out;
}
