// connectors/*.yaml → ConnectorConfig. Placeholders `${VAR}` / `${VAR:-default}` are filled from the
// environment so secrets stay out of the file; `{ $include: _file.yaml#name }` pulls in a fragment shared by
// several connectors (e.g. their `groups:`); every mistake is a ConfigError at file:line:column (inside a
// fragment: the fragment's, plus where it was included from).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Document,
  LineCounter,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  parseDocument,
  visit,
  type Node,
  type Pair,
  type Scalar,
} from 'yaml';
import { ConfigError, MappingError, type SourceLocation } from '../errors.js';
import { isFragmentFile, parseIncludeRef } from '../mapping/include.js';
import { DIALECT_NAMES, dialect, kindList, resolveKind, sampleHolders } from './registry.js';
import type { ConnectorConfig } from './types.js';

export { redactConnection } from './redact.js';

const SAMPLES = ['synthea'];

type Check = (node: Node, at: (n: Node | null | undefined) => SourceLocation) => void;

const KEYS: Record<string, { expect: string; check: Check }> = {
  name: { expect: 'a string', check: scalarString },
  kind: {
    expect: `one of ${kindList()}`,
    check: (node, at) => {
      scalarString(node, at);
      const v = String((node as Scalar).value).toLowerCase();
      if (!resolveKind(v)) throw new MappingError(`unknown kind '${v}': expected one of ${kindList()}`, at(node));
    },
  },
  connection: {
    expect: 'a connection URL or a map of connection settings',
    check: (node, at) => {
      if (!isMap(node) && !(isScalar(node) && typeof node.value === 'string'))
        throw new ConfigError('connection: expected a connection URL or a map of connection settings', at(node));
    },
  },
  path: { expect: 'a string', check: scalarString },
  delimiter: {
    expect: 'a single character',
    check: (node, at) => {
      scalarString(node, at);
      const v = String((node as Scalar).value);
      if (normaliseDelimiter(v).length !== 1)
        throw new ConfigError(`delimiter: expected a single character (or 'tab'), got '${v}'`, at(node));
    },
  },
  encoding: {
    expect: 'a character encoding',
    check: (node, at) => {
      scalarString(node, at);
      const v = String((node as Scalar).value);
      try {
        new TextDecoder(v);
      } catch {
        throw new ConfigError(`encoding: '${v}' is not an encoding Node.js can decode (utf-8, latin1, windows-1252, utf-16le…)`, at(node));
      }
    },
  },
  files: { expect: 'a map of table name to file name', check: mapOf(scalarString) },
  timezone: {
    expect: 'an IANA time zone',
    check: (node, at) => {
      scalarString(node, at);
      const tz = String((node as Scalar).value);
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
      } catch {
        throw new ConfigError(`timezone: '${tz}' is not an IANA time zone (e.g. UTC, America/New_York)`, at(node));
      }
    },
  },
  mappings: {
    expect: 'a path or a list of paths',
    check: (node, at) => {
      if (isSeq(node)) for (const item of node.items) scalarString(item as Node, at);
      else scalarString(node, at);
    },
  },
  sample: {
    expect: `one of ${SAMPLES.join(', ')}`,
    check: (node, at) => {
      scalarString(node, at);
      const v = String((node as Scalar).value);
      if (!SAMPLES.includes(v)) throw new ConfigError(`sample: unknown sample '${v}': expected one of ${SAMPLES.join(', ')}`, at(node));
    },
  },
  pool: {
    expect: 'a map with min and/or max',
    check: (node, at) => {
      if (!isMap(node)) throw new ConfigError('pool: expected a map with min and/or max', at(node));
      for (const pair of node.items) {
        const key = String((pair.key as Scalar).value);
        if (key !== 'min' && key !== 'max') throw new ConfigError(`pool: unknown key '${key}' (expected min, max)`, at(pair.key as Node));
        const v = pair.value as Node;
        if (!isScalar(v) || typeof v.value !== 'number' || !Number.isInteger(v.value) || v.value < 0)
          throw new ConfigError(`pool.${key}: expected a whole number`, at(v));
      }
    },
  },
  groups: { expect: 'a map', check: mapOf(() => undefined) },
  ignore: {
    expect: 'a map of table to a reason, or to { reason?, columns: { column: reason } }',
    check: mapOfEntries((table, node, at) => {
      if (isScalar(node) && typeof node.value === 'string' && node.value.trim() !== '') return;
      const expected = `ignore.${table}: expected the reason the table is left out, or { reason?, columns: { <column>: <reason> } }`;
      if (!isMap(node)) throw new ConfigError(expected, at(node));
      let columns = false;
      for (const pair of node.items) {
        const key = String((pair.key as Scalar).value);
        const v = pair.value as Node | null;
        if (key === 'reason') {
          if (!isScalar(v) || typeof v.value !== 'string')
            throw new ConfigError(`ignore.${table}.reason: expected a string`, at(v ?? (pair.key as Node)));
        } else if (key === 'columns') {
          columns = true;
          if (!isMap(v) || v.items.length === 0)
            throw new ConfigError(`ignore.${table}.columns: expected a map of column to reason`, at(v ?? (pair.key as Node)));
          for (const c of v.items) {
            const r = c.value as Node | null;
            // a reason repeated through a YAML alias (*name) is checked where its anchor (&name) gives it
            if (isAlias(r)) continue;
            if (!isScalar(r) || typeof r.value !== 'string' || r.value.trim() === '')
              throw new ConfigError(
                `ignore.${table}.columns.${String((c.key as Scalar).value)}: expected the reason the column is left out`,
                at(r ?? (c.key as Node)),
              );
          }
        } else throw new ConfigError(`ignore.${table}: unknown key '${key}' (expected reason, columns)`, at(pair.key as Node));
      }
      if (!columns) throw new ConfigError(expected, at(node));
    }),
  },
  options: { expect: 'a map', check: mapOf(() => undefined) },
};

function scalarString(node: Node | null | undefined, at: (n: Node | null | undefined) => SourceLocation): void {
  if (!isScalar(node) || typeof node.value !== 'string') throw new ConfigError(`expected a string, got ${describe(node)}`, at(node));
}

function mapOf(checkValue: Check): Check {
  return (node, at) => {
    if (!isMap(node)) throw new ConfigError(`expected a map, got ${describe(node)}`, at(node));
    for (const pair of node.items) if (pair.value) checkValue(pair.value as Node, at);
  };
}

/**
 * `ignore:` as table → reason | { reason?, columns }. Read from the nodes rather than toJSON(): reasons may
 * repeat through YAML aliases, whose anchors can sit in a fragment file spliced into this document.
 */
function ignoreEntries(doc: Document, node: Node): ConnectorConfig['ignore'] {
  const anchors = new Map<string, Node>();
  visit(doc, (_key, n) => {
    if (isNode(n) && n.anchor) anchors.set(n.anchor, n);
  });
  const text = (n: unknown): string => {
    const target = isAlias(n) ? anchors.get(n.source) : n;
    return isScalar(target) ? String(target.value) : '';
  };
  const out: NonNullable<ConnectorConfig['ignore']> = {};
  if (!isMap(node)) return out;
  for (const pair of node.items) {
    const table = String((pair.key as Scalar).value);
    const v = pair.value;
    if (!isMap(v)) {
      out[table] = text(v);
      continue;
    }
    const reason = v.items.find((p) => isScalar(p.key) && p.key.value === 'reason')?.value;
    const columns = v.items.find((p) => isScalar(p.key) && p.key.value === 'columns')?.value;
    out[table] = {
      ...(reason ? { reason: text(reason) } : {}),
      columns: Object.fromEntries(isMap(columns) ? columns.items.map((c) => [String((c.key as Scalar).value), text(c.value)]) : []),
    };
  }
  return out;
}

function mapOfEntries(checkEntry: (key: string, node: Node | null, at: (n: Node | null | undefined) => SourceLocation) => void): Check {
  return (node, at) => {
    if (!isMap(node)) throw new ConfigError(`expected a map, got ${describe(node)}`, at(node));
    for (const pair of node.items) checkEntry(String((pair.key as Scalar).value), pair.value as Node | null, at);
  };
}

function describe(node: Node | null | undefined): string {
  if (!node) return 'nothing';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'null' : `${typeof node.value} '${String(node.value)}'`;
  return 'something else';
}

/**
 * Replaces every `{ $include: <fragment file>#<name> }` map of the connector document by that fragment (the
 * same fragment files as mappings use: `_<name>.yaml` holding `fragments:`), recording where each pulled-in
 * node was written. Connectors take no `$with`: what they share (groups) has no parameters.
 */
function expandIncludes(
  doc: Document,
  file: string,
  locAt: (offset: number) => SourceLocation,
  origins: WeakMap<Node, (offset: number) => SourceLocation>,
  stack: string[],
): void {
  const at = (node: Node | null | undefined) => ((node && origins.get(node)) || locAt)(node?.range?.[0] ?? 0);
  visit(doc, {
    Map(_key, node) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === '$include');
      if (!pair) return undefined;
      const where = at(pair.key as Node);
      if (node.items.length > 1)
        throw new ConfigError('$include stands alone in its map (a connector file takes no $with or keys beside it)', where);
      const ref = pair.value;
      const m = isScalar(ref) && typeof ref.value === 'string' ? parseIncludeRef(ref.value) : undefined;
      // a connector is not a fragment file itself, so the `#name`-only form (same file) does not apply
      if (!m?.file)
        throw new ConfigError(
          '$include: expected "<fragment file>#<name>", e.g. "_synthea-groups.yaml#groups" (the file relative to this one)',
          at(ref as Node),
        );
      const from = origins.get(pair.key as Node) ? where.file : file;
      const fragmentFile = path.resolve(path.dirname(from), m.file);
      if (!isFragmentFile(fragmentFile))
        throw new ConfigError(
          `$include: ${fragmentFile} is not a fragment file: fragment files are named _<name>.yaml and hold "fragments:"`,
          at(ref as Node),
        );
      const key = `${fragmentFile}#${m.name}`;
      if (stack.includes(key))
        throw new ConfigError(`$include cycle: ${[...stack, key].map((k) => path.basename(k)).join(' → ')}`, at(ref as Node));
      const fragment = loadFragment(fragmentFile, m.name, where, at(ref as Node));
      // Nested includes of the fragment, then record every node's file (and where it was included from).
      const inner = new Document(fragment.node);
      expandIncludes(inner as Document, fragmentFile, fragment.locAt, origins, [...stack, key]);
      visit(inner, (_k, n) => {
        if (isNode(n) && !origins.has(n)) origins.set(n, fragment.locAt);
      });
      return inner.contents as Node;
    },
  });
}

function loadFragment(
  file: string,
  name: string,
  includedFrom: SourceLocation,
  refAt: SourceLocation,
): { node: Node; locAt: (offset: number) => SourceLocation } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read fragment file: ${(err as Error).message}`, refAt);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locAt = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, includedFrom };
  };
  if (doc.errors.length > 0) throw new ConfigError(`invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, locAt(doc.errors[0]!.pos[0]));
  const root = doc.contents;
  const fragments = isMap(root) ? root.items.find((p) => isScalar(p.key) && p.key.value === 'fragments')?.value : undefined;
  if (
    !isMap(root) ||
    !isMap(fragments) ||
    root.items.some((p) => !isScalar(p.key) || !['fragments', 'description'].includes(String(p.key.value)))
  ) {
    throw new ConfigError(
      'a fragment file holds { fragments: { <name>: <value>, ... }, description? }',
      locAt((root as Node | null)?.range?.[0] ?? 0),
    );
  }
  const pair = fragments.items.find((p) => isScalar(p.key) && String(p.key.value) === name);
  if (!pair) {
    const known = fragments.items.map((p) => String((p.key as Scalar).value));
    throw new ConfigError(`unknown fragment "${name}" in ${file}: expected one of ${known.join(', ') || '(none)'}`, refAt);
  }
  if (!pair.value) throw new ConfigError(`fragment "${name}" is empty`, locAt((pair.key as Node).range?.[0] ?? 0));
  return { node: pair.value as Node, locAt };
}

function normaliseDelimiter(d: string): string {
  if (d === 'tab' || d === '\\t') return '\t';
  if (d === 'pipe') return '|';
  return d;
}

/** Fills `${VAR}` and `${VAR:-default}`; `$${` is a literal `${`. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, onMissing: (name: string, index: number) => never): string {
  return text.replace(
    /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback: string | undefined, index: number) => {
      if (whole.startsWith('$$')) return whole.slice(1);
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      return onMissing(name, index);
    },
  );
}

/** Reads and checks a connector file. Throws ConfigError (file:line:column) for anything wrong in it. */
export async function loadConnectorConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<ConnectorConfig> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read connector file: ${(err as Error).message}`, { file: abs, line: 1, column: 1 });
  }
  return parseConnectorConfig(text, abs, env);
}

/** Same as loadConnectorConfig for text already in memory (`file` names it in errors and anchors paths). */
export function parseConnectorConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): ConnectorConfig {
  try {
    return parseConfig(text, file, env);
  } catch (err) {
    // Checks shared with other modules throw MappingError; a connector file's mistakes are ConfigErrors.
    if (err instanceof MappingError && !(err instanceof ConfigError)) throw new ConfigError(err.detail, err.location, { cause: err });
    throw err;
  }
}

function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv): ConnectorConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locAt = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ConfigError(`invalid YAML: ${e.message.split('\n')[0]}`, locAt(e.pos[0]));
  }
  // Nodes pulled in from fragment files are located in their own file.
  const origins = new WeakMap<Node, (offset: number) => SourceLocation>();
  const nodeAt = (node: Node | null | undefined, offset = 0): SourceLocation =>
    ((node && origins.get(node)) || locAt)((node?.range?.[0] ?? 0) + offset);
  const at = (node: Node | null | undefined): SourceLocation => nodeAt(node);
  expandIncludes(doc, file, locAt, origins, []);
  const root = doc.contents;
  if (!isMap(root))
    throw new ConfigError(
      `a connector file must be a map of settings (name, kind, connection, ...), got ${describe(root as Node)}`,
      at(root as Node),
    );

  // Placeholders are filled in the tree, so an error points at the scalar that holds the bad placeholder.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE' ? 1 : 0;
      node.value = substituteEnv(node.value, env, (name, index) => {
        throw new ConfigError(
          `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
          nodeAt(node, quoted + index),
        );
      });
    },
  });

  const seen = new Map<string, Pair>();
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    if (!isScalar(keyNode)) throw new ConfigError('keys must be plain names', at(keyNode));
    const key = String(keyNode.value);
    const spec = KEYS[key];
    if (!spec) throw new ConfigError(`unknown key '${key}' (expected one of ${Object.keys(KEYS).join(', ')})`, at(keyNode));
    const valueNode = pair.value as Node | null;
    if (!valueNode || (isScalar(valueNode) && valueNode.value === null)) continue;
    try {
      spec.check(valueNode, at);
    } catch (err) {
      if (err instanceof MappingError && !err.detail.startsWith(key)) throw new ConfigError(`${key}: ${err.detail}`, err.location);
      throw err;
    }
    seen.set(key, pair);
  }
  const kindPair = seen.get('kind');
  if (!kindPair) throw new MappingError(`missing key 'kind' (one of ${DIALECT_NAMES.join(', ')})`, at(root));

  const raw = root.toJSON() as Record<string, unknown>;
  const dir = path.dirname(file);
  const kind = resolveKind(String(raw.kind))!;
  const descriptor = dialect(kind);
  const config: ConnectorConfig = {
    file,
    name: typeof raw.name === 'string' ? raw.name : path.basename(file).replace(/\.ya?ml$/i, ''),
    kind,
    timezone: typeof raw.timezone === 'string' ? raw.timezone : 'UTC',
    mappings: (Array.isArray(raw.mappings) ? raw.mappings : raw.mappings ? [raw.mappings] : []).map((m) => path.resolve(dir, String(m))),
  };
  if (raw.connection !== undefined && raw.connection !== null) config.connection = raw.connection as ConnectorConfig['connection'];
  if (typeof raw.path === 'string') config.path = path.resolve(dir, raw.path);
  if (!config.path && descriptor.pathFromConnection) {
    const filename = descriptor.pathFromConnection(raw.connection);
    if (filename !== undefined) config.path = filename === ':memory:' ? filename : path.resolve(dir, filename);
  }
  if (descriptor.needs === 'path' && !config.path)
    throw new MappingError(`a ${kind} connector needs 'path' (${descriptor.pathHint ?? 'a file or folder'})`, at(root));
  if (descriptor.needs === 'connection' && config.connection === undefined)
    throw new MappingError(`a ${kind} connector needs 'connection' (a URL or a map of settings)`, at(root));
  if (typeof raw.delimiter === 'string') config.delimiter = normaliseDelimiter(raw.delimiter);
  if (typeof raw.encoding === 'string') config.encoding = raw.encoding;
  if (raw.files) config.files = raw.files as Record<string, string>;
  if (typeof raw.sample === 'string') {
    if (!descriptor.holdsSample)
      throw new MappingError(`sample: only ${sampleHolders()} connectors can hold a sample`, at(seen.get('sample')!.value as Node));
    config.sample = raw.sample;
  }
  if (raw.pool) config.pool = raw.pool as ConnectorConfig['pool'];
  if (raw.groups) config.groups = raw.groups as Record<string, unknown>;
  if (raw.options) config.options = raw.options as Record<string, unknown>;
  if (raw.ignore) config.ignore = ignoreEntries(doc, seen.get('ignore')!.value as Node);
  return config;
}
