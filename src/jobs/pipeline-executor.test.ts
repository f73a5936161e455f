import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaValidator } from '../fhir/schema-validator.js';
import { pipelineExecutor, sinceNotApplied } from './pipeline-executor.js';
import { fakeSource } from '../../test/support/test-server.js';
import type { ExportJob } from './types.js';

function job(params: Partial<ExportJob['params']>, extra: Partial<ExportJob> = {}): ExportJob {
  return {
    id: 'j',
    clientId: null,
    status: 'running',
    level: 'system',
    requestUrl: 'http://h/fhir/$export',
    baseUrl: 'http://h',
    params: { outputFormat: 'application/fhir+ndjson', types: ['Patient', 'Observation'], ...params },
    ignored: [],
    createdAt: '2024-01-01T00:00:00.000Z',
    transactionTime: '2024-01-01T00:00:00.000Z',
    attempts: 1,
    ...extra,
  };
}

async function lines(path: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('pipeline executor', () => {
  it('with validate, writes a resource that fails its profile to the error file instead of the output', async () => {
    const source = fakeSource();
    const observation = source.mappings.byName.get('observation')!;
    const map = observation.map;
    // Observation.status is 1..1 in R4: o2 comes out without it
    observation.map = (row, children) => {
      const result = map(row, children);
      if (row.id === 'o2') for (const r of result.resources) delete (r as { status?: string }).status;
      return result;
    };
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-exec-'));
    const result = await pipelineExecutor({ ...source, validate: true })({
      job: job({ types: ['Observation'] }),
      dir,
      signal: new AbortController().signal,
      onProgress: () => undefined,
    });
    expect((await lines(result.files.output[0]!.path)).map((o) => o.id)).toEqual(['o1', 'o3']);
    const [outcome] = await lines(result.files.error[0]!.path);
    expect(outcome).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'required', expression: ['Observation.status'] }],
    });
    expect(JSON.stringify(outcome)).toContain('Observation/o2 dropped');
  }, 120_000);

  it('runs the pipeline with the job parameters: types, patient keys, typeFilter', async () => {
    const source = fakeSource();
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-exec-'));
    const progress: string[] = [];
    const result = await pipelineExecutor(source)({
      job: job({ types: ['Observation'], typeFilters: ['Observation?code=8480-6'] }, { level: 'patient', patientKeys: ['p1', 'p2'] }),
      dir,
      signal: new AbortController().signal,
      onProgress: (t) => progress.push(t),
    });
    expect(result.files.output.map((f) => f.type)).toEqual(['Observation']);
    expect((await lines(result.files.output[0]!.path)).map((o) => o.id)).toEqual(['o1']);
    expect(progress.at(-1)).toMatch(/mappings/);
  });

  it('writes ignored parameters to the error file and adds its own Provenance when no mapping makes any', async () => {
    const source = fakeSource();
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-exec-'));
    const ignored = [{ severity: 'warning' as const, code: 'not-supported' as const, diagnostics: 'Ignored under handling=lenient: _foo' }];
    const result = await pipelineExecutor(source)({
      job: job({ includeAssociatedData: ['LatestProvenanceResources'] }, { ignored }),
      dir,
      signal: new AbortController().signal,
      onProgress: () => undefined,
    });
    const errors = await lines(result.files.error[0]!.path);
    expect(errors[0]).toEqual({ resourceType: 'OperationOutcome', issue: ignored });
    const provenance = result.files.output.find((f) => f.type === 'Provenance')!;
    const [p] = await lines(provenance.path);
    expect(schemaValidator().validate(p)).toEqual([]);
    expect((p!.target as Array<{ reference: string }>).map((t) => t.reference).sort()).toEqual([
      'Observation/o1',
      'Observation/o2',
      'Observation/o3',
      'Patient/p1',
      'Patient/p2',
      'Patient/p3',
    ]);
    expect(p!.recorded).toBe('2024-01-01T00:00:00.000Z');
  });

  it('names the types _since cannot filter', () => {
    const source = fakeSource();
    expect(sinceNotApplied(source.mappings, job({ types: ['Patient', 'Practitioner'] })).sort()).toEqual(['Patient', 'Practitioner']);
    expect(sinceNotApplied(source.mappings, job({ types: ['Patient', 'Practitioner'] }, { level: 'patient' }))).toEqual(['Patient']);
  });
});
