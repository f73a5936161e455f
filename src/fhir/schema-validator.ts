// Validates resources against the official FHIR R4 (4.0.1) JSON Schema, shipped gzipped beside this file
// (HL7, CC0; see src/fhir/assets/SOURCE.md). Compiling the whole schema takes a few seconds (the first
// resourceType pulls in nearly every definition), so it happens once per process and each resourceType's
// validator is compiled on first use. Given a cache directory (FHIR_BRIDGE_SCHEMA_CACHE; the test suite
// sets one), the compiled validators are kept there as Ajv standalone code keyed by the schema's hash, so
// that only the first process ever compiles and the others load the code (several times faster).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import draft6MetaSchema from 'ajv/dist/refs/json-schema-draft-06.json' with { type: 'json' };
import standalone from 'ajv/dist/standalone/index.js';

// src/fhir and dist/fhir are both two levels below the package root.
const SCHEMA_PATH = fileURLToPath(new URL('../../src/fhir/assets/fhir.schema.json.gz', import.meta.url));
const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

export interface SchemaViolation {
  path: string;
  message: string;
}

interface R4Schema {
  id?: string;
  $id?: string;
  definitions: Record<string, unknown>;
  discriminator: { mapping: Record<string, string> };
}

// The FHIR schema uses draft-06 keywords plus a non-standard `discriminator`; strict mode would reject it.
const AJV_OPTIONS = { strict: false, allErrors: true, validateSchema: false } as const;
const require = createRequire(import.meta.url);
// A CommonJS module whose exports are the function, with itself as `default` (what the types describe).
const standaloneCode = standalone.default;

export interface SchemaValidatorOptions {
  /** a directory for the compiled validators (standalone code keyed by the schema's hash), or none */
  cacheDir?: string;
}

export class FhirSchemaValidator {
  private ajv: Ajv | undefined;
  private readonly schema: R4Schema;
  private readonly byType = new Map<string, ValidateFunction>();
  readonly resourceTypes: Set<string>;

  constructor(schemaPath = SCHEMA_PATH, options: SchemaValidatorOptions = {}) {
    const bytes = readFileSync(schemaPath);
    this.schema = readSchema(bytes);
    this.resourceTypes = new Set(Object.keys(this.schema.discriminator.mapping));
    if (options.cacheDir) {
      const compiled = loadCompiled(options.cacheDir, bytes, this.schema, this.resourceTypes);
      for (const [type, fn] of Object.entries(compiled)) this.byType.set(type, fn);
    }
  }

  /** The Ajv instance holding the schema, built when a validator has to be compiled here. */
  private compiler(): Ajv {
    this.ajv ??= newAjv(this.schema, false);
    return this.ajv;
  }

  /** Violations of the R4 schema (empty when the resource is valid). */
  validate(resource: unknown): SchemaViolation[] {
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    if (typeof type !== 'string' || !this.resourceTypes.has(type)) {
      return [{ path: '/resourceType', message: `unknown resourceType ${JSON.stringify(type)}` }];
    }
    let fn = this.byType.get(type);
    if (!fn) {
      fn = this.compiler().getSchema(`${SCHEMA_ID}#/definitions/${type}`);
      if (!fn) throw new Error(`FHIR schema has no definition for ${type}`);
      this.byType.set(type, fn);
    }
    return fn(resource) ? [] : (fn.errors ?? []).map(toViolation);
  }
}

function toViolation(e: ErrorObject): SchemaViolation {
  const extra =
    e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
  return { path: e.instancePath || '/', message: `${e.message ?? e.keyword}${extra}` };
}

function readSchema(bytes: Buffer): R4Schema {
  const schema = JSON.parse(gunzipSync(bytes).toString('utf8')) as R4Schema;
  // The file names itself with draft-04's `id`; Ajv 8 only understands `$id`.
  delete schema.id;
  schema.$id = SCHEMA_ID;
  return schema;
}

function newAjv(schema: R4Schema, source: boolean): Ajv {
  const ajv = new Ajv({ ...AJV_OPTIONS, ...(source ? { code: { source: true } } : {}) });
  ajv.addMetaSchema(draft6MetaSchema);
  ajv.addSchema(schema, SCHEMA_ID);
  return ajv;
}

/**
 * The validator of every resourceType from `cacheDir`, compiled and written there first when missing.
 * The file name is a hash of everything the code depends on (schema bytes, Ajv's version and options, where
 * its runtime helpers are), so a changed schema or Ajv never loads stale code. Writes go to a temporary
 * name and are renamed into place: concurrent test runs each see a whole file or none.
 */
function loadCompiled(cacheDir: string, bytes: Buffer, schema: R4Schema, types: Set<string>): Record<string, ValidateFunction> {
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  const runtime = (name: string): string => require.resolve(`ajv/dist/runtime/${name}`);
  const key = createHash('sha256')
    .update(bytes)
    .update(JSON.stringify({ ajvVersion, AJV_OPTIONS, runtime: runtime('equal'), format: 1 }))
    .digest('hex')
    .slice(0, 24);
  const file = join(cacheDir, `fhir-r4-validators-${key}.cjs`);
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const ajv = newAjv(schema, true);
    const refs = Object.fromEntries([...types].map((t) => [t, `${SCHEMA_ID}#/definitions/${t}`]));
    for (const ref of Object.values(refs)) ajv.getSchema(ref);
    // The generated code requires Ajv's runtime helpers by package name, which would resolve from the cache
    // directory; point them at this package's Ajv instead.
    const code = standaloneCode(ajv, refs).replace(/require\("ajv\/dist\/runtime\/([\w-]+)"\)/g, (_: string, name: string) => {
      return `require(${JSON.stringify(runtime(name))})`;
    });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, code, { mode: 0o600 });
    renameSync(tmp, file);
  }
  // The file is code: load it only from a directory no one else can write to.
  const dir = statSync(cacheDir);
  if ((process.getuid && dir.uid !== process.getuid()) || (dir.mode & 0o022) !== 0)
    throw new Error(`schema cache ${cacheDir} must be a directory owned by this user and writable by no one else`);
  return require(file) as Record<string, ValidateFunction>;
}

let shared: FhirSchemaValidator | undefined;
/** One validator per process: the schema is large. */
export function schemaValidator(): FhirSchemaValidator {
  const cacheDir = process.env.FHIR_BRIDGE_SCHEMA_CACHE;
  shared ??= new FhirSchemaValidator(SCHEMA_PATH, cacheDir ? { cacheDir } : {});
  return shared;
}
