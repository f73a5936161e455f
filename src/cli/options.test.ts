import { describe, expect, it } from 'vitest';
import { defaultDataDir, positiveInt, registryFile, UsageError } from './options.js';

describe('whole-number options', () => {
  it('takes the fallback when the option is not given, else the number', () => {
    expect(positiveInt('--n', undefined, 7)).toBe(7);
    expect(positiveInt('--n', '', 7)).toBe(7);
    expect(positiveInt('--n', '12', 7)).toBe(12);
    expect(positiveInt('--n', 3, 7)).toBe(3);
  });

  it('refuses zero, negatives, fractions and words with the option named; zero only when allowed', () => {
    for (const bad of ['0', '-1', '1.5', 'ten']) {
      expect(() => positiveInt('--max-per-file', bad, 1)).toThrow(UsageError);
      expect(() => positiveInt('--max-per-file', bad, 1)).toThrow(`--max-per-file "${bad}": expected a whole number ≥ 1`);
    }
    expect(positiveInt('--port', '0', 8080, { allowZero: true })).toBe(0);
    expect(() => positiveInt('--port', '-1', 8080, { allowZero: true })).toThrow('--port "-1": expected a whole number ≥ 0');
  });
});

describe('data folder', () => {
  it('is $FHIR_BRIDGE_DATA_DIR or ./.fhir-bridge, and holds clients.json unless --clients names another file', () => {
    expect(defaultDataDir({ FHIR_BRIDGE_DATA_DIR: '/srv/bulk' })).toBe('/srv/bulk');
    expect(defaultDataDir({})).toMatch(/[/\\]\.fhir-bridge$/);
    expect(registryFile({ dataDir: '/srv/bulk' })).toBe('/srv/bulk/clients.json');
    expect(registryFile({ dataDir: '/srv/bulk', clients: '/etc/clients.yaml' })).toBe('/etc/clients.yaml');
  });
});
