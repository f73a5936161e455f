import { describe, expect, it } from 'vitest';
import { buildManifest, EXTENSION_BASE, fileNameOfUrl, fileUrl, presignedManifest } from './manifest.js';

const job = {
  id: 'job-1',
  requestUrl: 'http://h/fhir/$export?_type=Patient',
  baseUrl: 'http://h',
  transactionTime: '2024-01-01T00:00:00.000Z',
  createdAt: '2023-12-31T00:00:00.000Z',
};

describe('manifest', () => {
  it('lists one entry per non-empty file with absolute URLs and counts, and always an error array', () => {
    const m = buildManifest({
      job,
      requiresAccessToken: true,
      files: {
        output: [
          { type: 'Patient', path: '/d/job-1/Patient.000001.ndjson', count: 2, bytes: 10 },
          { type: 'Patient', path: '/d/job-1/Patient.000002.ndjson', count: 1, bytes: 5 },
          { type: 'Observation', path: '/d/job-1/Observation.000001.ndjson', count: 0, bytes: 0 },
        ],
        error: [],
      },
    });
    expect(m).toEqual({
      transactionTime: '2024-01-01T00:00:00.000Z',
      request: 'http://h/fhir/$export?_type=Patient',
      requiresAccessToken: true,
      output: [
        { type: 'Patient', url: 'http://h/files/job-1/Patient.000001.ndjson', count: 2 },
        { type: 'Patient', url: 'http://h/files/job-1/Patient.000002.ndjson', count: 1 },
      ],
      error: [],
    });
    expect(m).not.toHaveProperty('deleted');
  });

  it('names error files OperationOutcome and says which types _since could not filter', () => {
    const m = buildManifest({
      job,
      requiresAccessToken: false,
      sinceNotApplied: ['Observation', 'Condition'],
      files: { output: [], error: [{ type: 'OperationOutcome', path: '/d/OperationOutcome.000001.ndjson', count: 3, bytes: 1 }] },
    });
    expect(m.error).toEqual([{ type: 'OperationOutcome', url: fileUrl('http://h', 'job-1', 'OperationOutcome.000001.ndjson'), count: 3 }]);
    expect(m.extension).toEqual({ [`${EXTENSION_BASE}/since-not-applied`]: ['Condition', 'Observation'] });
  });

  it('pre-signed: every file URL (output, error, deleted) is replaced by the signed one and no token is required', async () => {
    const stored = buildManifest({
      job,
      requiresAccessToken: true,
      files: {
        output: [{ type: 'Patient', path: '/d/job-1/Patient.000001.ndjson', count: 2, bytes: 10 }],
        error: [{ type: 'OperationOutcome', path: '/d/job-1/OperationOutcome.000001.ndjson', count: 1, bytes: 5 }],
        deleted: [{ type: 'Bundle', path: '/d/job-1/Bundle.000001.ndjson.gz', count: 1, bytes: 5 }],
      },
    });
    const signed = await presignedManifest(stored, async (name) => `https://bucket.example/p/job-1/${name}?X-Amz-Signature=s`);
    expect(signed.requiresAccessToken).toBe(false);
    expect(signed.output[0]).toEqual({
      type: 'Patient',
      url: 'https://bucket.example/p/job-1/Patient.000001.ndjson?X-Amz-Signature=s',
      count: 2,
    });
    expect(signed.error[0]?.url).toBe('https://bucket.example/p/job-1/OperationOutcome.000001.ndjson?X-Amz-Signature=s');
    expect(signed.deleted?.[0]?.url).toBe('https://bucket.example/p/job-1/Bundle.000001.ndjson.gz?X-Amz-Signature=s');
    expect(Object.keys(signed)).toEqual(Object.keys(stored));
    expect(stored.requiresAccessToken, 'the stored manifest is left as it was').toBe(true);
    expect(fileNameOfUrl(fileUrl('http://h', 'job 1', 'A b.000001.ndjson'))).toBe('A b.000001.ndjson');
  });
});
