import { describe, expect, it, vi } from 'vitest';
import fhirpath from 'fhirpath';
import { compile, FILE, posOf } from '../../test/support/compile-text.js';

const PATIENT = `
mapping: patient
source: { table: patients, key: Id, patient: Id, lastUpdated: UPDATED }
lookups:
  gender:
    map: { M: male, F: female }
  marital:
    map:
      M: { system: http://terminology.hl7.org/CodeSystem/v3-MaritalStatus, code: M, display: Married }
    default: { system: http://terminology.hl7.org/CodeSystem/v3-NullFlavor, code: UNK }
resources:
  - resourceType: Patient
    id: "{Id}"
    profile: http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient
    template:
      identifier:
        - { system: "urn:synthea", value: "{Id}" }
        - { system: "http://hl7.org/fhir/sid/us-ssn", value: "{SSN}" }
      name:
        - family: "{LAST}"
          given: ["{FIRST}", "{MIDDLE}"]
          prefix: ["{PREFIX}"]
      gender: { $lookup: gender, $column: GENDER }
      birthDate: { $column: BIRTHDATE, $as: date }
      deceasedDateTime: { $column: DEATHDATE, $as: dateTime }
      maritalStatus:
        coding: [{ $lookup: marital, $column: MARITAL }]
      multipleBirthInteger: { $column: BIRTHS, $as: integer }
      extension:
        - $when: "income.exists()"
          url: http://example.org/income
          valueDecimal: { $column: INCOME, $as: decimal }
      active: true
      text: { $literal: { status: generated, div: "{not a template}" } }
`;

const row = (over: Record<string, unknown> = {}) => ({
  id: 'p1',
  ssn: '999-12-3456',
  last: 'Doe',
  first: 'Jane',
  middle: null,
  prefix: '',
  gender: 'F',
  birthdate: '1950-01-02',
  deathdate: null,
  marital: 'M',
  births: null,
  income: '85000.50',
  updated: '2024-01-02 03:04:05',
  ...over,
});

describe('value forms', () => {
  const set = compile(PATIENT);
  const m = set.byName.get('patient')!;

  it('builds the resource: templates, lookups, coercions, literals, engine-set fields', () => {
    const { resources, issues } = m.map(row());
    expect(issues).toEqual([]);
    expect(resources).toEqual([
      {
        resourceType: 'Patient',
        id: 'p1',
        meta: { lastUpdated: '2024-01-02T03:04:05+00:00', profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
        identifier: [
          { system: 'urn:synthea', value: 'p1' },
          { system: 'http://hl7.org/fhir/sid/us-ssn', value: '999-12-3456' },
        ],
        name: [{ family: 'Doe', given: ['Jane'] }],
        gender: 'female',
        birthDate: '1950-01-02',
        maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }] },
        extension: [{ url: 'http://example.org/income', valueDecimal: 85000.5 }],
        active: true,
        text: { status: 'generated', div: '{not a template}' },
      },
    ]);
    // engine fields come first
    expect(Object.keys(resources[0]!).slice(0, 3)).toEqual(['resourceType', 'id', 'meta']);
  });

  it('prunes empty strings, arrays and objects, and leaves out templates with a missing value', () => {
    const { resources } = m.map(row({ ssn: null, first: null, last: '  ', income: null, marital: 'X' }));
    const p = resources[0] as unknown as Record<string, unknown>;
    // only the value is left out; the object keeps its constant fields (use $when to drop it)
    expect(p.identifier).toEqual([{ system: 'urn:synthea', value: 'p1' }, { system: 'http://hl7.org/fhir/sid/us-ssn' }]);
    expect(p.name).toBeUndefined();
    expect(p.extension).toBeUndefined();
    // lookup default
    expect(p.maritalStatus).toEqual({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK' }] });
  });

  it('shares lookup objects and constant parts between resources frozen: editing one in place fails, the next resource is intact', () => {
    const a = m.map(row()).resources[0] as any;
    expect(() => {
      a.maritalStatus.coding[0].code = 'changed';
    }).toThrow(TypeError);
    const b = m.map(row()).resources[0] as any;
    expect(b.maritalStatus.coding[0].code).toBe('M');
    expect(b.maritalStatus.coding[0]).toBe(a.maritalStatus.coding[0]);
    // what depends on the row is the resource's own
    expect(b.identifier).not.toBe(a.identifier);
  });

  it('reports a bad date as a located row issue and drops only that resource', () => {
    const text = PATIENT.replace('resources:\n', 'resources:\n  - resourceType: Basic\n    template: { code: { text: "{Id}" } }\n');
    const two = compile(text).byName.get('patient')!;
    const { resources, issues } = two.map(row({ birthdate: '1950-13-02' }));
    expect(resources.map((r) => r.resourceType)).toEqual(['Basic']);
    expect(issues).toHaveLength(1);
    const i = issues[0]!;
    expect(i).toMatchObject({
      severity: 'error',
      code: 'value',
      column: 'birthdate',
      table: 'patients',
      key: { id: 'p1' },
      resourceType: 'Patient',
      expression: 'Patient.birthDate',
      mapping: 'patient',
    });
    expect(i.message).toContain('"1950-13-02"');
    expect(i.message).toContain('birthdate');
    expect(i.location).toEqual({ file: FILE, ...posOf(text, '$column: BIRTHDATE') });
  });

  it('reports a bad number and an unmapped code', () => {
    const bad = m.map(row({ births: 'two' }));
    expect(bad.resources).toEqual([]);
    expect(bad.issues[0]).toMatchObject({ code: 'value', column: 'births', expression: 'Patient.multipleBirthInteger' });
    const unmapped = m.map(row({ gender: 'U' }));
    expect(unmapped.resources).toEqual([]);
    expect(unmapped.issues[0]).toMatchObject({ code: 'code-invalid', column: 'gender', expression: 'Patient.gender' });
    expect(unmapped.issues[0]!.message).toMatch(/"U".*lookup "gender"/);
    expect(unmapped.issues[0]!.location).toEqual({ file: FILE, ...posOf(PATIENT, '$lookup: gender') });
  });

  it('a DATE lastUpdated column counts as midnight in the connector zone', () => {
    const ny = compile(PATIENT, 'America/New_York').byName.get('patient')!;
    expect(ny.map(row({ updated: '2024-01-02' })).resources[0]!.meta!.lastUpdated).toBe('2024-01-02T00:00:00-05:00');
  });

  it('reports a bad lastUpdated', () => {
    const r = m.map(row({ updated: 'never' }));
    expect(r.resources).toEqual([]);
    expect(r.issues[0]).toMatchObject({ code: 'value', column: 'updated' });
  });
});

const ENCOUNTER = `
mapping: bp
source: { table: encounters, key: [Id] }
children:
  obs:
    table: observations
    on: { ENCOUNTER: Id }
    orderBy: [CODE]
resources:
  - resourceType: Observation
    id: "bp-{Id}"
    when: "class = 'ambulatory'"
    template:
      status: final
      subject: { reference: "Patient/{PATIENT}" }
      effectiveDateTime: { $first: [{ $column: START, $as: dateTime }, { $column: STOP, $as: dateTime }] }
      category: { $if: "vital.exists()", $then: [{ text: vital }], $else: [{ text: other }] }
      component:
        $each: obs
        $template:
          $when: "value.exists()"
          code: { coding: [{ system: http://loinc.org, code: "{CODE}" }], text: "{parent.REASON}" }
          valueQuantity: { value: { $column: VALUE, $as: decimal }, unit: "{UNITS}" }
      note:
        - text: { $fhirpath: "'note: ' + note" }
        - text: { $fhirpath: "note" }
      valueString: { $fhirpath: "code_list.split(',')" }
  - resourceType: Encounter
    when: "class = 'emergency'"
    template:
      status: finished
`;

describe('children, conditions, FHIRPath', () => {
  const m = compile(ENCOUNTER).byName.get('bp')!;
  const enc = {
    id: 'e1',
    patient: 'p1',
    class: 'ambulatory',
    start: null,
    stop: '2020-01-01T10:00:00Z',
    vital: 'y',
    reason: 'check',
    note: null,
    code_list: 'a,b',
  };
  const kids = {
    obs: [
      { encounter: 'e1', code: '8462-4', value: '80', units: 'mm[Hg]' },
      { encounter: 'e1', code: '8480-6', value: 120.0, units: 'mm[Hg]' },
      { encounter: 'e1', code: 'x', value: null, units: 'mm[Hg]' },
    ],
  };

  it('applies $each over child rows with parent access, $first, $if and multi-valued $fhirpath', () => {
    const { resources, issues } = m.map(enc, kids);
    expect(issues).toEqual([]);
    expect(resources).toHaveLength(1);
    const o = resources[0] as any;
    expect(o.id).toBe('bp-e1');
    expect(o.effectiveDateTime).toBe('2020-01-01T10:00:00+00:00');
    expect(o.category).toEqual([{ text: 'vital' }]);
    expect(o.component).toEqual([
      { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }], text: 'check' }, valueQuantity: { value: 80, unit: 'mm[Hg]' } },
      { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }], text: 'check' }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
    ]);
    expect(o.valueString).toEqual(['a', 'b']);
    expect(o.note).toBeUndefined();
    expect(m.map({ ...enc, vital: null }, {}).resources[0]).toMatchObject({ category: [{ text: 'other' }] });
    expect((m.map({ ...enc, vital: null }, {}).resources[0] as any).component).toBeUndefined();
  });

  it('evaluates `when` per resource and reports rows that match none', () => {
    expect(m.map({ ...enc, class: 'emergency' }).resources.map((r) => r.resourceType)).toEqual(['Encounter']);
    const none = m.map({ ...enc, class: 'wellness' });
    expect(none.resources).toEqual([]);
    expect(none.issues).toEqual([
      expect.objectContaining({ severity: 'information', code: 'not-supported', key: { id: 'e1' }, table: 'encounters' }),
    ]);
  });

  it('describes children for the pipeline with lower-cased columns', () => {
    expect(m.children).toEqual([
      { name: 'obs', query: { table: 'observations' }, on: [{ child: 'encounter', parent: 'id' }], orderBy: ['code'] },
    ]);
    expect(m.resourceTypes).toEqual(['Observation', 'Encounter']);
  });

  it('compiles FHIRPath once per file, not per row', () => {
    const spy = vi.spyOn(fhirpath, 'compile');
    try {
      const fresh = compile(ENCOUNTER).byName.get('bp')!;
      const compiled = spy.mock.calls.length;
      expect(compiled).toBeGreaterThan(0);
      for (let i = 0; i < 50; i++) fresh.map({ ...enc, id: `e${i}` }, kids);
      expect(spy.mock.calls.length).toBe(compiled);
    } finally {
      spy.mockRestore();
    }
  });

  it('does not modify the row', () => {
    const r = { ...enc };
    const k = JSON.parse(JSON.stringify(kids));
    m.map(r, k);
    expect(r).toEqual(enc);
    expect(k).toEqual(kids);
  });
});

describe('references and ids', () => {
  const text = `
mapping: patient
source: { table: patients, key: Id }
resources:
  - resourceType: Patient
    id: "pat-{Id}"
    template: { active: true }
---
mapping: condition
source: { table: conditions, key: [PATIENT, CODE, START] }
resources:
  - resourceType: Condition
    template:
      subject: { reference: { $ref: patient, $key: [PATIENT] } }
      code: { text: "{CODE}" }
---
mapping: claim
source: { table: claims, key: [CLAIMID] }
resources:
  - resourceType: Claim
    template:
      diagnosis:
        - diagnosisReference: { reference: { $ref: condition, $key: [PATIENT, DIAG, ONSET] } }
`;
  const set = compile(text);
  const cond = set.byName.get('condition')!;
  const claim = set.byName.get('claim')!;

  it("$ref uses the target id rule (template or hash) with this row's columns", () => {
    const c = cond.map({ patient: 'p1', code: '44054006', start: '2014-05-06T08:34:30Z' }).resources[0] as any;
    expect(c.subject.reference).toBe('Patient/pat-p1');
    const cl = claim.map({ claimid: 'c1', patient: 'p1', diag: '44054006', onset: '2014-05-06 08:34:30' }).resources[0] as any;
    expect(cl.diagnosis[0].diagnosisReference.reference).toBe(`Condition/${c.id}`);
  });

  it('gives the same hash id for the same row read from CSV, SQLite, PostgreSQL and MariaDB', () => {
    const shapes = [
      { patient: 'p1', code: '44054006', start: '2014-05-06T08:34:30Z' },
      { patient: 'p1 ', code: 44054006, start: '2014-05-06 08:34:30+00' },
      { patient: 'p1', code: '44054006', start: '2014-05-06 08:34:30' },
      { patient: 'p1', code: '44054006', start: '2014-05-06 08:34:30.000+00:00' },
    ];
    const ids = new Set(shapes.map((r) => cond.map(r).resources[0]!.id));
    expect(ids.size).toBe(1);
    const other = cond.map({ patient: 'p1', code: '44054006', start: '2014-05-06T08:34:31Z' }).resources[0]!.id;
    expect(ids.has(other)).toBe(false);
  });

  it('reads naive key timestamps in the connector zone', () => {
    const ny = compile(text, 'America/New_York').byName.get('condition')!;
    const utcId = cond.map({ patient: 'p1', code: 'x', start: '2014-05-06T08:34:30Z' }).resources[0]!.id;
    expect(ny.map({ patient: 'p1', code: 'x', start: '2014-05-06 04:34:30' }).resources[0]!.id).toBe(utcId);
    expect(ny.map({ patient: 'p1', code: 'x', start: '2014-05-06T08:34:30Z' }).resources[0]!.id).toBe(utcId);
  });

  it('hash ids are valid FHIR ids and idFor agrees with map', () => {
    for (let i = 0; i < 200; i++) {
      const r = { patient: `p${i}`, code: String(i * 7919), start: `2014-05-06T08:34:${String(i % 60).padStart(2, '0')}Z` };
      const id = cond.map(r).resources[0]!.id;
      expect(id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
      expect(cond.idFor('Condition', [r.patient, r.code, r.start])).toBe(id);
    }
  });

  it('keyForId inverts id templates; hash ids are not invertible', () => {
    const pat = set.byName.get('patient')!;
    expect(pat.idFor('Patient', ['abc-1'])).toBe('pat-abc-1');
    expect(pat.keyForId!('Patient', 'pat-abc-1')).toEqual(['abc-1']);
    expect(pat.keyForId!('Patient', 'other-abc')).toBeUndefined();
    expect(cond.keyForId!('Condition', cond.idFor('Condition', ['a', 'b', 'c'])!)).toBeUndefined();
  });

  it('keyForId handles composite templates', () => {
    const m = compile(`
source: { table: t, key: [A, B] }
resources:
  - { resourceType: Basic, id: "{A}.{B}", template: { code: { text: x } } }
`).mappings[0]!;
    expect(m.keyForId!('Basic', m.idFor('Basic', ['x1', '2'])!)).toEqual(['x1', '2']);
  });

  it('a row without key values is a "required" issue', () => {
    const r = cond.map({ patient: null, code: null, start: null });
    expect(r.resources).toEqual([]);
    expect(r.issues[0]).toMatchObject({ code: 'required', resourceType: 'Condition' });
  });

  it('a $ref whose key gives no valid id is a row issue, not a silent omission', () => {
    const c = cond.map({ patient: 'p 1/x', code: 'c', start: '2014-05-06' });
    expect(c.resources).toEqual([]);
    expect(c.issues[0]).toMatchObject({ code: 'value', expression: 'Condition.subject.reference', column: 'patient' });
  });

  it('an id template yielding an invalid FHIR id is a row issue', () => {
    const r = set.byName.get('patient')!.map({ id: 'a b/c' });
    expect(r.issues[0]).toMatchObject({ code: 'value', expression: 'Patient.id' });
  });
});

describe('requiredColumns', () => {
  it('lists, per query, every column reference with its location', async () => {
    const { requiredColumns } = await import('./index.js');
    const m = compile(ENCOUNTER).byName.get('bp')!;
    const q = requiredColumns(m);
    expect(q.map((x) => x.name)).toEqual(['source', 'obs']);
    const source = q[0]!.columns;
    const obs = q[1]!.columns;
    const names = (cols: typeof source) => [...new Set(cols.map((c) => c.column))].sort();
    expect(names(source)).toEqual(['class', 'code_list', 'id', 'note', 'patient', 'reason', 'start', 'stop', 'vital']);
    expect(names(obs)).toEqual(['code', 'encounter', 'units', 'value']);
    // {parent.REASON} inside $each is a source column, located at its template
    expect(source.find((c) => c.column === 'reason')!.location).toMatchObject(posOf(ENCOUNTER, '"{parent.REASON}"'));
    expect(obs.find((c) => c.column === 'units')!.location).toMatchObject(posOf(ENCOUNTER, '"{UNITS}"'));
    expect(source.find((c) => c.column === 'vital')!.location).toMatchObject(posOf(ENCOUNTER, '"vital.exists()"'));
  });
});

describe('lookup defaults', () => {
  it('default ~ leaves the element out; no default is a row error', () => {
    const m = compile(`
source: { table: t, key: ID }
lookups:
  quiet: { map: { a: A }, default: ~ }
  strict: { map: { a: A } }
resources:
  - resourceType: Basic
    template:
      code: { text: { $lookup: quiet, $column: Q } }
      subject: { display: { $lookup: strict, $value: "{S}" } }
`).mappings[0]!;
    expect(m.map({ id: 1, q: 'zz', s: 'a' }).resources[0]).toMatchObject({ subject: { display: 'A' } });
    expect((m.map({ id: 1, q: 'zz', s: 'a' }).resources[0] as any).code).toBeUndefined();
    expect(m.map({ id: 1, q: 'a', s: 'zz' }).issues[0]).toMatchObject({ code: 'code-invalid', expression: 'Basic.subject.display' });
  });
});

describe('$tz and $fhirpath with $as', () => {
  it('reads and writes in the $tz zone, overriding the connector zone', () => {
    const m = compile(
      `
source: { table: t, key: ID }
resources:
  - resourceType: Observation
    template:
      status: final
      code: { text: x }
      effectiveDateTime: { $column: AT, $as: dateTime, $tz: Europe/Paris }
      issued: { $column: AT, $as: instant }
      valueQuantity: { value: { $fhirpath: "v.toDecimal() * 2", $as: decimal } }
      valueInteger: { $fhirpath: "bad", $as: integer }
`,
      'America/New_York',
    ).mappings[0]!;
    const r = m.map({ id: 1, at: '2021-07-01 12:00:00', v: '1.25', bad: null });
    expect(r.issues).toEqual([]);
    expect(r.resources[0]).toMatchObject({
      effectiveDateTime: '2021-07-01T12:00:00+02:00',
      issued: '2021-07-01T12:00:00-04:00',
      valueQuantity: { value: 2.5 },
    });
    const bad = m.map({ id: 1, at: '2021-07-01 12:00:00', v: '1', bad: 'x1' });
    expect(bad.issues[0]).toMatchObject({ code: 'value', expression: 'Observation.valueInteger', column: 'bad' });
    expect(bad.issues[0]!.message).toMatch(/"x1" is not a whole number \(from "bad"\)/);
  });
});

describe('keyOf', () => {
  it('gives the key values by key column, null for an absent one, the same record row issues carry', () => {
    const m = compile(`mapping: k
source: { table: t, key: [A, B] }
resources:
  - resourceType: Patient
    when: "c = 'x'"
    template: { active: true }
`).byName.get('k')!;
    expect(m.keyOf({ a: 1, b: '2', c: 'y' })).toEqual({ a: 1, b: '2' });
    expect(m.keyOf({ a: 'only' })).toEqual({ a: 'only', b: null });
    expect(m.map({ a: 'only', c: 'y' }).issues[0]!.key).toEqual(m.keyOf({ a: 'only' }));
  });
});
