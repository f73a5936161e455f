import { describe, expect, it } from 'vitest';
import { checkFileName, describeLocation, fileNameOfKey, jobPrefix, objectKey, parseS3Url } from './s3-location.js';

describe('S3 locations and key names', () => {
  it('reads s3://bucket[/prefix] into a bucket and a prefix that is empty or ends in one slash', () => {
    expect(parseS3Url('s3://fhir-exports')).toEqual({ bucket: 'fhir-exports', prefix: '' });
    expect(parseS3Url('s3://fhir-exports/')).toEqual({ bucket: 'fhir-exports', prefix: '' });
    expect(parseS3Url('s3://fhir-exports/bulk/prod')).toEqual({ bucket: 'fhir-exports', prefix: 'bulk/prod/' });
    expect(parseS3Url('s3://my.bucket-1//bulk//prod/')).toEqual({ bucket: 'my.bucket-1', prefix: 'bulk/prod/' });
  });

  it('refuses what is not an S3 URL or not a bucket name, saying what a bucket name is', () => {
    expect(() => parseS3Url('https://fhir-exports')).toThrow(/s3:\/\/bucket\[\/prefix\]/);
    expect(() => parseS3Url('s3://')).toThrow(/not a valid S3 bucket name/);
    expect(() => parseS3Url('s3://ab')).toThrow(/3-63 characters/);
    expect(() => parseS3Url('s3://Fhir_Exports')).toThrow(/not a valid S3 bucket name/);
    expect(() => parseS3Url('s3://a..b')).toThrow(/not a valid S3 bucket name/);
    expect(() => parseS3Url('s3://fhir-exports/a/../b')).toThrow(/".." segments/);
  });

  it('keys a file as <prefix><job id>/<file name>', () => {
    const loc = parseS3Url('s3://fhir-exports/bulk');
    expect(jobPrefix(loc, '3f2a')).toBe('bulk/3f2a/');
    expect(objectKey(loc, '3f2a', 'Patient.000001.ndjson')).toBe('bulk/3f2a/Patient.000001.ndjson');
    expect(objectKey({ bucket: 'b00', prefix: '' }, '3f2a', 'Patient.000001.ndjson.gz')).toBe('3f2a/Patient.000001.ndjson.gz');
    expect(describeLocation(loc)).toBe('s3://fhir-exports/bulk/');
  });

  it("reads a listed key back to a file name only when it is directly under the job's prefix", () => {
    const loc = parseS3Url('s3://fhir-exports/bulk');
    expect(fileNameOfKey(loc, 'j1', 'bulk/j1/Patient.000001.ndjson')).toBe('Patient.000001.ndjson');
    expect(fileNameOfKey(loc, 'j1', 'bulk/j10/Patient.000001.ndjson')).toBeUndefined();
    expect(fileNameOfKey(loc, 'j1', 'bulk/j1/deeper/x.ndjson')).toBeUndefined();
    expect(fileNameOfKey(loc, 'j1', 'bulk/j1/')).toBeUndefined();
  });

  it('never lets a job id or a file name climb out of its folder or prefix', () => {
    const loc = parseS3Url('s3://fhir-exports');
    for (const bad of ['', '.', '..', 'a/b', '..\\x', 'a\0b']) {
      expect(() => checkFileName(bad)).toThrow(/not an export file name/);
      expect(() => objectKey(loc, bad, 'x.ndjson')).toThrow(/not a job id/);
    }
  });
});
