// Validates resources against the official FHIR R4 (4.0.1) JSON Schema, shipped gzipped beside this file
// (HL7, CC0; see src/fhir/assets/SOURCE.md). Compiling the whole schema takes a few seconds, so it happens
// once per process and each resourceType's validator is compiled on first use.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import draft6MetaSchema from 'ajv/dist/refs/json-schema-draft-06.json' with { type: 'json' };

// src/fhir and dist/fhir are both two levels below the package root.
const SCHEMA_PATH = fileURLToPath(new URL('../../src/fhir/assets/fhir.schema.json.gz', import.meta.url));
const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

export interface SchemaViolation {
  path: string;
  message: string;
}

export class FhirSchemaValidator {
  private readonly ajv: Ajv;
  private readonly byType = new Map<string, ValidateFunction>();
  readonly resourceTypes: Set<string>;

  constructor(schemaPath = SCHEMA_PATH) {
    const schema = JSON.parse(gunzipSync(readFileSync(schemaPath)).toString('utf8')) as {
      id?: string;
      $id?: string;
      definitions: Record<string, unknown>;
      discriminator: { mapping: Record<string, string> };
    };
    // The file names itself with draft-04's `id`; Ajv 8 only understands `$id`.
    delete schema.id;
    schema.$id = SCHEMA_ID;
    this.resourceTypes = new Set(Object.keys(schema.discriminator.mapping));
    // The FHIR schema uses draft-06 keywords plus a non-standard `discriminator`; strict mode would reject it.
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    this.ajv.addMetaSchema(draft6MetaSchema);
    this.ajv.addSchema(schema, SCHEMA_ID);
  }

  /** Violations of the R4 schema (empty when the resource is valid). */
  validate(resource: unknown): SchemaViolation[] {
    const type = (resource as { resourceType?: unknown } | null)?.resourceType;
    if (typeof type !== 'string' || !this.resourceTypes.has(type)) {
      return [{ path: '/resourceType', message: `unknown resourceType ${JSON.stringify(type)}` }];
    }
    let fn = this.byType.get(type);
    if (!fn) {
      fn = this.ajv.getSchema(`${SCHEMA_ID}#/definitions/${type}`);
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

let shared: FhirSchemaValidator | undefined;
/** One validator per process: the schema is large. */
export function schemaValidator(): FhirSchemaValidator {
  shared ??= new FhirSchemaValidator();
  return shared;
}
