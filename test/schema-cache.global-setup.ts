// Vitest global setup: compiles the R4 JSON schema into the cache directory vitest.config.ts chose, once
// before any worker starts, so that no test file pays for the compilation (it is a no-op when the cache
// already holds code for this schema and Ajv).
import { FhirSchemaValidator } from '../src/fhir/schema-validator.js';

export default function setup(): void {
  const cacheDir = process.env.FHIR_BRIDGE_SCHEMA_CACHE;
  if (cacheDir) new FhirSchemaValidator(undefined, { cacheDir });
}
