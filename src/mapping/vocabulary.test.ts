// The schema editors use and the compiler must speak the same language: every list of words in
// src/mapping/vocabulary.ts is compared with mappings/mapping.schema.json, so a directive, `$as` type or key
// added to one and not the other fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DIALECT_NAMES } from '../connectors/registry.js';
import { SCHEMA_PATH } from './schema.js';
import {
  AS_TYPES,
  CHILD_KEYS,
  DIRECTIVES,
  EXTENDS_KEYS,
  FORMS,
  INCLUDE_KEYS,
  LOOKUP_KEYS,
  RESOURCE_KEYS,
  SOURCE_KEYS,
  TOP_KEYS,
  WHERE_OPS,
} from './vocabulary.js';

type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; definitions?: Record<string, Schema> };
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Schema;
const defs = schema.definitions!;

/** Every subschema, depth first. */
function* walk(s: unknown): Generator<Schema> {
  if (Array.isArray(s)) for (const x of s) yield* walk(x);
  else if (typeof s === 'object' && s !== null) {
    yield s as Schema;
    for (const v of Object.values(s)) yield* walk(v);
  }
}

/** The object schema of a section, looking through the `if $include then ... else <section>` wrapper. */
function section(s: Schema): Schema {
  return (s.else as Schema | undefined) ?? s;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();
const props = (s: Schema) => sorted(Object.keys(s.properties ?? {}));

describe('vocabulary.ts and mapping.schema.json list the same words', () => {
  it('template directives: the $-keys of the value-form definitions, and each form with its companions', () => {
    const directiveDefs = ['column', 'fhirpath', 'lookup', 'ref', 'each', 'if', 'first', 'literal', 'object'];
    const inSchema = new Set(directiveDefs.flatMap((d) => Object.keys(defs[d]!.properties ?? {})).filter((k) => k.startsWith('$')));
    expect(sorted(inSchema)).toEqual(sorted([...DIRECTIVES, ...INCLUDE_KEYS]));
    for (const [form, companions] of Object.entries(FORMS)) {
      const def = Object.values(defs).find((d) => (d.required as string[] | undefined)?.[0] === form)!;
      expect({ form, keys: props(def) }).toEqual({ form, keys: sorted([form, ...companions, '$when']) });
    }
  });

  it('$as types: every $as enum of the schema', () => {
    const enums = [...walk(schema)].filter((s) => s.properties?.$as).map((s) => s.properties!.$as!.enum);
    expect(enums.length).toBeGreaterThan(0);
    for (const e of enums) expect(e).toEqual([...AS_TYPES]);
  });

  it('keys of a mapping, its source, children, resources and lookups, and where operators', () => {
    const p = schema.properties!;
    expect(props(schema)).toEqual(sorted([...TOP_KEYS, ...EXTENDS_KEYS, ...INCLUDE_KEYS]));
    expect(props(section(p.source!))).toEqual(sorted(SOURCE_KEYS));
    expect(props(section(p.children!.additionalProperties as Schema))).toEqual(sorted(CHILD_KEYS));
    expect(props(section(section(p.resources!).items as Schema))).toEqual(sorted(RESOURCE_KEYS));
    const lookupForms = (section(p.lookups!.additionalProperties as Schema).anyOf as Schema[]).flatMap((s) =>
      Object.keys(s.properties ?? {}),
    );
    expect(sorted(lookupForms)).toEqual(sorted(LOOKUP_KEYS));
    const ops = [...walk(section(p.source!))].find((s) => s.properties?.op)!.properties!.op!.enum;
    expect(ops).toEqual([...WHERE_OPS]);
  });

  it('per-dialect `sql:` keys: every registered dialect (src/connectors/dialects) and default', () => {
    const variants = [...walk(schema)].filter((s) => s.properties?.default && s.properties?.sqlite).map(props);
    expect(variants.length).toBeGreaterThan(0);
    for (const v of variants) expect(v).toEqual(sorted(['default', ...DIALECT_NAMES]));
  });
});
