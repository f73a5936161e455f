import { describe, expect, it } from 'vitest';
import { schemaValidator } from './schema-validator.js';

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
