import { describe, expect, it } from 'vitest';
import { HttpError } from '../errors.js';
import { fakeMapping } from '../../test/support/pipeline-fakes.js';
import type { CompiledMapping } from '../mapping/types.js';
import { ParameterProblems } from '../http/kickoff/params.js';
import { translateQuery, translateTypeFilters, UnsupportedFilter } from './type-filter.js';

function mapping(name: string, types: string[], search: Record<string, string>, keyForId?: CompiledMapping['keyForId']): CompiledMapping {
  const m = fakeMapping({ name, table: name, resourceTypes: types, map: () => ({ resources: [], issues: [] }) });
  return { ...m, search, ...(keyForId ? { keyForId } : {}) };
}

const observations = mapping('observations', ['Observation'], { code: 'CODE', date: 'DATE', category: 'CATEGORY', patient: 'PATIENT' });
const patients = mapping('patients', ['Patient'], {}, (_t, id) => (id.startsWith('pat-') ? [id.slice(4)] : undefined));
const meds = mapping('medications', ['MedicationRequest'], { status: 'STATUS', authoredon: 'START' });
const all = [observations, patients, meds];
const types = ['Observation', 'Patient', 'MedicationRequest'];

describe('_typeFilter translation', () => {
  it('translates the IG example into OR-ed alternatives per type', () => {
    const problems = new ParameterProblems(false);
    const { filters, accepted } = translateTypeFilters(
      ['MedicationRequest?status=active', 'MedicationRequest?status=completed&authoredon=gt2018-07-01T00:00:00Z'],
      all,
      types,
      problems,
    );
    expect(accepted).toHaveLength(2);
    expect(filters).toEqual({
      MedicationRequest: [
        [{ column: 'status', op: '=', value: 'active' }],
        [
          { column: 'status', op: '=', value: 'completed' },
          { column: 'start', op: '>', value: '2018-07-01T00:00:00Z' },
        ],
      ],
    });
  });

  it('handles comma lists, token system|code, prefixes, :missing, :not and references', () => {
    expect(translateQuery('Observation?code=http://loinc.org|8480-6,8462-4', all, types).filters).toEqual([
      { column: 'code', op: 'in', value: ['8480-6', '8462-4'] },
    ]);
    expect(translateQuery('Observation?date=ge2020-01-01&date=lt2021-01-01', all, types).filters).toEqual([
      { column: 'date', op: '>=', value: '2020-01-01' },
      { column: 'date', op: '<', value: '2021-01-01' },
    ]);
    expect(translateQuery('Observation?category:missing=true', all, types).filters).toEqual([{ column: 'category', op: 'is null' }]);
    expect(translateQuery('Observation?category:not=laboratory,vital-signs', all, types).filters).toEqual([
      { column: 'category', op: 'not in', value: ['laboratory', 'vital-signs'] },
    ]);
    expect(translateQuery('Observation?patient=Patient/pat-42', all, types).filters).toEqual([{ column: 'patient', op: '=', value: '42' }]);
  });

  it('refuses what cannot be pushed down', () => {
    const cases: Array<[string, string]> = [
      ['Observation?value-quantity=5', 'value-quantity'],
      ['Observation?code:text=bp', ':text'],
      ['Observation?date=sa2020-01-01', 'sa'],
      ['Observation?date=gt2020,lt2010', 'comparison'],
      ['Observation?patient=Patient/unknown-form', 'source key'],
      ['Condition?code=1', 'not among the exported types'],
    ];
    for (const [query, words] of cases) {
      expect(() => translateQuery(query, all, types), query).toThrow(UnsupportedFilter);
      expect(() => translateQuery(query, all, types), query).toThrow(words);
    }
  });

  it('needs every mapping producing the type to agree on the column', () => {
    const other = mapping('lab-results', ['Observation'], { code: 'LOINC' });
    expect(() => translateQuery('Observation?code=1', [observations, other], ['Observation'])).toThrow('different columns');
    const none = mapping('vitals', ['Observation'], {});
    expect(() => translateQuery('Observation?code=1', [observations, none], ['Observation'])).toThrow('vitals');
  });

  it('is a 400 unless lenient, then the query is dropped and reported', () => {
    expect(() => translateTypeFilters(['Observation?bogus=1'], all, types, new ParameterProblems(false))).toThrow(HttpError);
    const problems = new ParameterProblems(true);
    const r = translateTypeFilters(['Observation?bogus=1', 'Observation?code=1'], all, types, problems);
    expect(r.accepted).toEqual(['Observation?code=1']);
    expect(problems.ignored).toHaveLength(1);
    expect(problems.ignored[0]!.diagnostics).toContain('bogus');
  });
});
