// Validation at export time: a compiled mapping over in-memory rows, exported with the real validator.
import type { OperationOutcome } from 'fhir/r4';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile, FILE, posOf } from '../../test/support/compile-text.js';
import { FakeAdapter, MemorySink } from '../../test/support/pipeline-fakes.js';
import type { ProfileValidator } from '../validation/index.js';
import { runExport } from './run-export.js';
import { mergeValidationSummaries, sharedValidator, type ValidationSummary } from './validate-resource.js';

const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';

/** The mapping's header: every template below reads the people table. */
const PEOPLE = `mapping: people
source:
  table: people
  key: [id]
  patient: id
resources:
`;

const MAPPING = `${PEOPLE}  - resourceType: Patient
    id: "{id}"
    profile: [${US_CORE_PATIENT}]
    template:
      identifier:
        - system: urn:example:mrn
          value: "{id}"
      name:
        - family: "{last}"
      gender: "{gender}"
`;

const rows = [
  { id: 'a1', last: 'Ames', gender: 'female' },
  { id: 'b2', last: 'Bell', gender: 'banana' },
  { id: 'c3', last: 'Cole', gender: 'male' },
];

let validator: ProfileValidator;
beforeAll(async () => {
  validator = await sharedValidator();
}, 120_000);

async function exportRows(withValidator: boolean, elements?: string[], mapping = MAPPING) {
  const sink = new MemorySink();
  const summary = await runExport({
    adapter: new FakeAdapter({ people: rows }),
    mappings: compile(mapping),
    sink,
    ...(withValidator ? { validator } : {}),
    ...(elements ? { elements } : {}),
  });
  return { summary, resources: sink.resources, errors: sink.errors as OperationOutcome[] };
}

describe('validation at export time', () => {
  it('keeps a resource that fails its profile out of the output and reports where it came from', async () => {
    const { summary, resources, errors } = await exportRows(true);
    expect(resources.map((r) => r.id)).toEqual(['a1', 'c3']);
    expect(errors).toHaveLength(1);
    const issue = errors[0]!.issue.find((i) => i.severity === 'error')!;
    expect(issue.code).toBe('code-invalid');
    expect(issue.expression).toEqual(['Patient.gender']);
    // the resource template's place in the mapping file (its resourceType), the profile, the row key, and what happened
    const template = posOf(MAPPING, 'Patient\n    id:');
    expect(issue.diagnostics).toContain(`${FILE}:${template.line}:${template.column}: `);
    expect(issue.diagnostics).toContain(`profile ${US_CORE_PATIENT}`);
    expect(issue.diagnostics).toContain('people key {"id":"b2"}');
    expect(issue.diagnostics).toContain('Patient/b2 dropped');

    expect(summary.counts).toEqual({ Patient: 2 });
    expect(summary.rejected.total).toBe(1);
    expect(Object.keys(summary.rejected.byReason)).toEqual([
      expect.stringMatching(/^people: .*test\.yaml:\d+:\d+ code-invalid us-core-patient Patient\.gender: /),
    ]);
    expect(summary.validation).toMatchObject({ resources: 3, rejected: 1, errors: { people: { [US_CORE_PATIENT]: 1 } } });
  });

  it('counts must-support coverage per mapping and profile over the resources validated', async () => {
    const { summary } = await exportRows(true);
    const tally = summary.validation!.mustSupport.people![US_CORE_PATIENT]!;
    expect(tally.resources).toBe(3);
    // every row has an identifier, a family name and a gender; none a birthDate
    expect(tally.elements['Patient.identifier']).toBe(3);
    expect(tally.elements['Patient.name.family']).toBe(3);
    expect(tally.elements['Patient.gender']).toBe(3);
    expect(tally.elements['Patient.birthDate']).toBe(0);
  });

  it('validates the whole resource even when _elements keeps only some of it', async () => {
    const { resources, errors } = await exportRows(true, ['gender']);
    expect(resources.map((r) => r.id)).toEqual(['a1', 'c3']);
    expect(resources[0]).not.toHaveProperty('name');
    expect(errors).toHaveLength(1);
  });

  it('without a validator exports every resource and reports no validation', async () => {
    const { summary, resources, errors } = await exportRows(false);
    expect(resources).toHaveLength(3);
    expect(errors).toHaveLength(0);
    expect(summary.validation).toBeUndefined();
  });

  it('names the mapping, not a guessed template, when several templates of the type carry no profile', async () => {
    // two Patient templates chosen by a column, neither claiming a profile: the resource's template is unknown
    const twoTemplates = `${PEOPLE}  - resourceType: Patient
    id: "{id}"
    when: "last = 'Ames'"
    template:
      gender: "{gender}"
  - resourceType: Patient
    id: "{id}"
    when: "last != 'Ames'"
    template:
      gender: "{gender}"
`;
    const { errors } = await exportRows(true, undefined, twoTemplates);
    const issue = errors[0]!.issue.find((i) => i.severity === 'error')!;
    expect(issue.expression).toEqual(['Patient.gender']);
    const mappingAt = posOf(twoTemplates, 'people'); // the mapping's name
    expect(issue.diagnostics).toContain(`${FILE}:${mappingAt.line}:${mappingAt.column}: `);
  });

  it('merges the summaries of exports split across workers', async () => {
    const a = (await exportRows(true)).summary.validation!;
    const b = (await exportRows(true)).summary.validation!;
    const merged = mergeValidationSummaries(structuredClone(a), b) as ValidationSummary;
    expect(merged.resources).toBe(a.resources + b.resources);
    expect(merged.errors.people![US_CORE_PATIENT]).toBe(2);
    expect(merged.mustSupport.people![US_CORE_PATIENT]!.elements['Patient.gender']).toBe(6);
  });
});
