import { describe, expect, it } from 'vitest';
import { canExport, grantScopes, parseScope } from './scopes.js';

describe('SMART scopes', () => {
  it('reads v1 and v2 system scopes', () => {
    expect([...parseScope('system/*.read')!.permissions].sort()).toEqual(['r', 's']);
    expect([...parseScope('system/Patient.rs')!.permissions].sort()).toEqual(['r', 's']);
    expect(parseScope('system/Observation.rs?category=laboratory')!.query).toBe('category=laboratory');
    expect(parseScope('system/Patient.sr')).toBeUndefined(); // v2 letters come in cruds order
    expect(parseScope('launch/patient')).toBeUndefined();
  });

  it('grants only requested system scopes covered by the registration', () => {
    expect(grantScopes(['system/Patient.read', 'system/Observation.rs'], ['system/*.read'])).toEqual([
      'system/Patient.read',
      'system/Observation.rs',
    ]);
    expect(grantScopes(['system/*.read'], ['system/Patient.rs'])).toEqual([]);
    expect(grantScopes(['system/Patient.cruds'], ['system/*.read'])).toEqual([]);
    expect(grantScopes(['patient/*.read', 'user/*.rs', 'system/Observation.rs?code=1'], ['system/*.*', 'user/*.*', 'patient/*.*'])).toEqual(
      [],
    );
  });

  it('lets a type be exported with read and search on it', () => {
    expect(canExport(['system/*.read'], 'Observation')).toBe(true);
    expect(canExport(['system/Patient.rs'], 'Patient')).toBe(true);
    expect(canExport(['system/Patient.rs'], 'Observation')).toBe(false);
    expect(canExport(['system/Patient.r'], 'Patient')).toBe(false);
    expect(canExport(['system/Patient.write'], 'Patient')).toBe(false);
  });
});
