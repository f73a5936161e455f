import { describe, expect, it } from 'vitest';
import { defaultDataDir, duration, positiveInt, registryFile, UsageError } from './options.js';

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

describe('duration options', () => {
  it("read a bare number in the option's own unit, as before, and a number with a unit in any option", () => {
    expect(duration('--job-lease', undefined, 30_000, { unit: 'ms' })).toBe(30_000);
    expect(duration('--job-lease', '45000', 30_000, { unit: 'ms' })).toBe(45_000);
    expect(duration('--job-lease', '45s', 30_000, { unit: 'ms' })).toBe(45_000);
    expect(duration('--heartbeat', '1.5s', 10_000, { unit: 'ms' })).toBe(1_500);
    expect(duration('--part-lease', '30', 30, { unit: 's' })).toBe(30);
    expect(duration('--part-lease', '2m', 30, { unit: 's' })).toBe(120);
    expect(duration('--part-lease', '2000ms', 30, { unit: 's' })).toBe(2);
    expect(duration('--file-ttl', '1H', 3600, { unit: 's' })).toBe(3600);
    expect(duration('--min-poll-interval', '0', 500, { unit: 'ms', allowZero: true })).toBe(0);
  });

  it("refuse what is not a whole number of the option's unit, naming the option and the forms it takes", () => {
    for (const bad of ['0', '-5s', 'soon', '10 minutes', '1500ms', '0.5']) {
      expect(() => duration('--part-lease', bad, 30, { unit: 's' })).toThrow(UsageError);
      expect(() => duration('--part-lease', bad, 30, { unit: 's' })).toThrow(
        `--part-lease "${bad}": expected a whole number of seconds ≥ 1, or one with a unit (500ms, 30s, 5m, 1h)`,
      );
    }
    expect(() => duration('--job-lease', '0.5ms', 1, { unit: 'ms' })).toThrow('expected a whole number of milliseconds ≥ 1');
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
