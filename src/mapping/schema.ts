// mappings/mapping.schema.json through ajv: the same schema editors use (yaml-language-server) checks the
// structure of every mapping document, and ajv's instancePath is mapped back to the YAML node. Template
// bodies are left to the compiler, whose messages about value forms are more precise than anyOf errors.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { MappingError } from '../errors.js';
import type { ParsedDocument, PathSegment } from './parse.js';

// src/mapping and dist/mapping are both two levels below the package root.
export const SCHEMA_PATH = fileURLToPath(new URL('../../mappings/mapping.schema.json', import.meta.url));
export const FRAGMENT_SCHEMA_PATH = fileURLToPath(new URL('../../mappings/fragment.schema.json', import.meta.url));

let full: ValidateFunction | undefined;
let structural: ValidateFunction | undefined;
let fragment: ValidateFunction | undefined;

function load(file = SCHEMA_PATH): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function compile(schema: Record<string, unknown>): ValidateFunction {
  return new Ajv({ allErrors: true, strict: false, verbose: true }).compile(schema);
}

/** The whole schema, templates included (what an editor checks). */
export function fullSchemaValidator(): ValidateFunction {
  full ??= compile(load());
  return full;
}

/** Schema violations of a fragment file's frame (its fragments are checked where they are included). */
export function fragmentSchemaErrors(doc: ParsedDocument): MappingError[] {
  fragment ??= compile(load(FRAGMENT_SCHEMA_PATH));
  return schemaErrors(doc, fragment, 'a fragment file');
}

function structuralValidator(): ValidateFunction {
  if (!structural) {
    const schema = load();
    const defs = schema.definitions as Record<string, unknown>;
    defs.template = { type: 'object' };
    structural = compile(schema);
  }
  return structural;
}

/** Schema violations of one mapping document outside template bodies, located in the YAML. */
export function schemaErrors(doc: ParsedDocument, validate?: ValidateFunction, what = 'the mapping'): MappingError[] {
  const v = validate ?? structuralValidator();
  if (v(doc.value)) return [];
  const errors = (v.errors ?? []).filter((e) => validate || !/\/template(\/|$)/.test(e.instancePath));
  // anyOf/oneOf/if report once more for the alternatives already listed; keep the specific ones.
  const specific = errors.filter((e) => !['anyOf', 'oneOf', 'if', 'not'].includes(e.keyword));
  const chosen = specific.length > 0 ? dedupe(specific) : errors.slice(0, 1);
  return chosen.map((e) => {
    const path = toPath(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return new MappingError(
        `unknown key "${key}"${allowed.length ? `: expected one of ${allowed.join(', ')}` : ''}`,
        doc.locate([...path, key], true),
      );
    }
    if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return new MappingError(`${where(path, what)} needs "${missing}"`, doc.locate(path));
    }
    return new MappingError(`${where(path, what)}: ${describe(e)}`, doc.locate(path));
  });
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'enum')
    return `expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  const d = (e.parentSchema as { description?: string } | undefined)?.description;
  return `${e.message ?? e.keyword}${d ? ` (${d.split('. ')[0]!.replace(/\.$/, '')})` : ''}`;
}

function where(path: PathSegment[], what: string): string {
  return path.length === 0
    ? what
    : path
        .map((s) => (typeof s === 'number' ? `[${s}]` : s))
        .join('.')
        .replace(/\.\[/g, '[');
}

function toPath(instancePath: string): PathSegment[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}
