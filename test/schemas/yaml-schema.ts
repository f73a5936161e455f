// Checks YAML text against one of the published JSON Schemas the way an editor does (yaml-language-server):
// every document of the file, ajv with all errors, each problem placed at the file:line:column of the node
// it is about. The schema tests use it to prove that the shipped files pass and that broken ones are
// rejected at the right place, so the schemas stay worth pointing an editor at.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CONNECTOR_SCHEMA = path.join(ROOT, 'connectors/connector.schema.json');
export const MAPPING_TEST_SCHEMA = path.join(ROOT, 'mappings/mapping-test.schema.json');
export const FRAGMENT_SCHEMA = path.join(ROOT, 'mappings/fragment.schema.json');

export function loadSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/**
 * The schema in `file` (or the part of it at `pointer`, e.g. `#/properties/groups`) as a validator. strict:
 * false as in src/mapping/schema.ts: if/then branches name keys declared elsewhere.
 */
export function compileSchema(file: string, pointer = ''): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const schema = loadSchema(file);
  if (!pointer) return ajv.compile(schema);
  ajv.addSchema(schema);
  const part = ajv.getSchema(`${String(schema.$id)}${pointer}`);
  if (!part) throw new Error(`${file} has nothing at ${pointer}`);
  return part;
}

/**
 * `file:line:column /instance/path: message` for every schema violation in the YAML text (empty when it
 * validates). An unknown key is placed on the key itself and named in the path, like an editor shows it.
 */
export function schemaProblems(validate: ValidateFunction, text: string, file: string): string[] {
  const lineCounter = new LineCounter();
  const problems: string[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    if (doc.errors.length > 0) throw new Error(`${file}: invalid YAML: ${doc.errors[0]!.message}`);
    if (validate(doc.toJS({ maxAliasCount: 100 }))) continue;
    for (const e of relevant(validate.errors ?? [])) {
      const segments = e.instancePath.split('/').slice(1).map(unescapePointer);
      const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
      const where = [...segments, ...(extra === undefined ? [] : [extra])];
      const { line, col } = lineCounter.linePos(offsetOf(doc, where, extra !== undefined));
      problems.push(`${path.basename(file)}:${line}:${col} /${where.join('/')}: ${e.message}`);
    }
  }
  return problems;
}

// if/anyOf/oneOf repeat what their branches already said; keep the specific errors when there are some.
function relevant(errors: ErrorObject[]): ErrorObject[] {
  const specific = errors.filter((e) => !['if', 'anyOf', 'oneOf', 'not'].includes(e.keyword));
  return specific.length > 0 ? specific : errors;
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Offset of the node at `where` (of its key when `onKey`), falling back to the nearest existing parent. */
function offsetOf(doc: Document.Parsed, where: string[], onKey: boolean): number {
  for (let n = where.length; n >= 0; n--) {
    const keys = where.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    if (onKey && n === where.length && n > 0) {
      const parent = keys.length > 1 ? doc.getIn(keys.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isNode(p.key) && String((p.key as { value?: unknown }).value) === String(keys.at(-1)));
        if (pair && isNode(pair.key) && pair.key.range) return pair.key.range[0];
      }
      continue;
    }
    const node = keys.length === 0 ? doc.contents : doc.getIn(keys, true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}

/** The schema a `# yaml-language-server: $schema=...` first line points at, resolved against the file. */
export function modelineSchema(file: string): string | undefined {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#\s*yaml-language-server:\s*\$schema=(\S+)\s*$/.exec(first);
  return m ? path.resolve(path.dirname(file), m[1]!) : undefined;
}
