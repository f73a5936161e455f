// Test runner settings. CI runs on a shared, loaded 2-core machine: the first test of a file that compiles
// the R4 JSON schema (a few seconds alone) can take several times longer there, so the default 5 s per test
// is too tight to be stable. Heavier suites set their own, longer timeouts.
//
// The R4 schema is compiled once, not once per test file: the global setup writes the compiled validators
// as Ajv standalone code into a per-user cache directory (keyed by the schema's hash, see
// src/fhir/schema-validator.ts), and every worker loads that code instead of compiling (about 0.5 s instead
// of 3.5-11 s). The file is written under a temporary name and renamed, so parallel runs share it safely.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

const schemaCache = process.env.FHIR_BRIDGE_SCHEMA_CACHE || join(tmpdir(), `fhir-bridge-schema-cache-${process.getuid?.() ?? 'user'}`);
// the global setup runs in this process; the workers get it through `env`
process.env.FHIR_BRIDGE_SCHEMA_CACHE = schemaCache;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    globalSetup: ['test/schema-cache.global-setup.ts'],
    env: { FHIR_BRIDGE_SCHEMA_CACHE: schemaCache },
  },
});
