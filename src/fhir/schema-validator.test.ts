import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FhirSchemaValidator, schemaValidator } from './schema-validator.js';

describe('FhirSchemaValidator', () => {
  const v = schemaValidator();
  it('accepts a valid Patient', () => {
    expect(v.validate({ resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '2011-03-18' })).toEqual([]);
  });
  it('names the element at fault', () => {
    const errors = v.validate({ resourceType: 'Patient', id: 'p1', birthDate: '18/03/2011', colour: 'red' });
    expect(errors.map((e) => e.path)).toContain('/birthDate');
    expect(errors.some((e) => e.message.includes('colour'))).toBe(true);
  });
  it('rejects empty strings, which FHIR forbids', () => {
    expect(v.validate({ resourceType: 'Patient', id: 'p1', gender: '' }).length).toBeGreaterThan(0);
  });
  it('rejects unknown resource types', () => {
    expect(v.validate({ resourceType: 'Pateint', id: 'x' })[0]!.path).toBe('/resourceType');
  });
});

describe('the compiled-validator cache', () => {
  it('is used by the test suite', () => {
    expect(process.env.FHIR_BRIDGE_SCHEMA_CACHE).toBeTruthy();
  });

  it('gives the same answers as compiling the schema, from a file written once', async () => {
    // The one test that compiles the schema itself (twice: directly, and into a fresh cache).
    const dir = await mkdtemp(join(tmpdir(), 'fhir-schema-cache-'));
    try {
      const cacheDir = join(dir, 'cache');
      const built = new FhirSchemaValidator(undefined, { cacheDir });
      const files = await readdir(cacheDir);
      expect(files).toEqual([expect.stringMatching(/^fhir-r4-validators-[0-9a-f]{24}\.cjs$/)]);
      const loaded = new FhirSchemaValidator(undefined, { cacheDir });
      expect(await readdir(cacheDir)).toEqual(files);
      const compiled = new FhirSchemaValidator();
      const resources = [
        { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '2011-03-18' },
        { resourceType: 'Patient', id: 'p1', birthDate: '18/03/2011', colour: 'red', gender: '' },
        { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, valueQuantity: { value: 'high' } },
        { resourceType: 'ExplanationOfBenefit', id: 'e', contained: [{ resourceType: 'Nope' }], item: [{ sequence: -1 }] },
        { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] },
        { resourceType: 'Pateint' },
      ];
      for (const r of resources) {
        const expected = compiled.validate(r);
        expect(built.validate(r)).toEqual(expected);
        expect(loaded.validate(r)).toEqual(expected);
      }
      expect(compiled.validate(resources[1]).length).toBeGreaterThan(0);
      expect(compiled.validate(resources[3]).length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('refuses to load code from a directory others can write to', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fhir-schema-cache-'));
    try {
      const { chmod, copyFile } = await import('node:fs/promises');
      const shared = process.env.FHIR_BRIDGE_SCHEMA_CACHE!;
      // a copy of the suite's cache, so nothing is compiled here
      for (const f of await readdir(shared)) if (f.endsWith('.cjs')) await copyFile(join(shared, f), join(dir, f));
      await chmod(dir, 0o777);
      expect(() => new FhirSchemaValidator(undefined, { cacheDir: dir })).toThrow(/writable by no one else/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
