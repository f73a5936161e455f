import { describe, expect, it } from 'vitest';
import { S3FileStore } from './s3-store.js';
import { storageFromSettings } from './settings.js';

describe('serve storage settings', () => {
  it('keeps files in the data folder unless told otherwise', () => {
    expect(storageFromSettings({}, {}, '/data')).toEqual({});
    expect(storageFromSettings({ storage: 'local' }, { FHIR_BRIDGE_STORAGE: 's3://ignored-here' }, '/data')).toEqual({});
  });

  it('builds an S3 store from the options, or from FHIR_BRIDGE_STORAGE and friends', () => {
    const fromOptions = storageFromSettings(
      { storage: 's3://fhir-exports/bulk', s3Endpoint: 'http://127.0.0.1:9000', s3ForcePathStyle: true, s3Presign: '900' },
      {},
      '/data',
    );
    expect(fromOptions.store).toBeInstanceOf(S3FileStore);
    expect(fromOptions.store?.description).toBe('s3://fhir-exports/bulk/');
    expect(fromOptions.store?.jobDir('j1')).toBe('/data/jobs/j1');
    expect(fromOptions.presignSeconds).toBe(900);
    fromOptions.store?.close();

    const fromEnv = storageFromSettings({}, { FHIR_BRIDGE_STORAGE: 's3://fhir-exports', FHIR_BRIDGE_S3_PRESIGN: '60' }, '/data');
    expect(fromEnv.store?.description).toBe('s3://fhir-exports/');
    expect(fromEnv.presignSeconds).toBe(60);
    fromEnv.store?.close();

    // a unit of its own, as every duration option of serve takes
    for (const [given, seconds] of [
      ['15m', 900],
      ['2h', 7200],
      ['90s', 90],
      ['7000ms', 7],
    ] as const) {
      const withUnit = storageFromSettings({ storage: 's3://fhir-exports', s3Presign: given }, {}, '/data');
      expect(withUnit.presignSeconds, given).toBe(seconds);
      withUnit.store?.close();
    }
  });

  it('refuses settings that cannot work, naming the option', () => {
    expect(() => storageFromSettings({ s3Presign: '60' }, {}, '/d')).toThrow(/--s3-presign needs --storage s3:\/\//);
    expect(() => storageFromSettings({ s3Endpoint: 'http://x:9000' }, {}, '/d')).toThrow(/--s3-endpoint needs --storage/);
    expect(() => storageFromSettings({ storage: '/mnt/exports' }, {}, '/d')).toThrow(/--storage must be "local" or s3:\/\//);
    expect(() => storageFromSettings({ storage: 's3://fhir-exports', s3Endpoint: 'minio:9000' }, {}, '/d')).toThrow(
      /--s3-endpoint must be an http\(s\) URL/,
    );
    for (const bad of ['0', '-5', '1.5', 'soon', '604801', '8d', '169h', '1500ms'])
      expect(() => storageFromSettings({ storage: 's3://fhir-exports', s3Presign: bad }, {}, '/d')).toThrow(
        /--s3-presign must be whole seconds from 1 to 604800/,
      );
  });
});
