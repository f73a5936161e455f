// `_since` in the mapping language and the plan: a source's lastUpdated, a child's own lastUpdated (one more
// query per child, deduplicated, each able to use an index), deletions from a tombstone table or a
// soft-delete column, and the SQL each dialect gets for a child's changes.
import { describe, expect, it } from 'vitest';
import { buildSelect } from '../connectors/sql-builder.js';
import type { Filter } from '../connectors/types.js';
import { compile, compileErrors, posOf } from '../../test/support/compile-text.js';
import { planExport } from './plan.js';

const SINCE = new Date('2026-01-01T00:00:00Z');

const claims = `mapping: eob
source:
  table: claims
  key: [Id]
  patient: PATIENTID
  lastUpdated: last_updated
  deleted: { table: deleted_rows, where: { table_name: claims }, key: [key1], at: deleted_at, patient: key2 }
children:
  lines:
    table: claim_lines
    on: { CLAIMID: Id }
    lastUpdated: LAST_UPDATED
  payments:
    sql: SELECT claimid, SUM(amount) AS paid FROM transactions GROUP BY claimid
    on: { claimid: Id }
    lastUpdated: { table: transactions, column: changed_at }
  notes:
    table: notes
    on: { CLAIMID: Id }
resources:
  - resourceType: ExplanationOfBenefit
    template: { status: active }
  - resourceType: Claim
    template: { status: active }
`;

describe('change tracking in the mapping language', () => {
  it('compiles a tombstone, a soft-delete column and both forms of a child lastUpdated', () => {
    const m = compile(claims).mappings[0]!;
    expect(m.source.deleted).toEqual({
      kind: 'tombstone',
      query: { table: 'deleted_rows', where: [{ column: 'table_name', op: '=', value: 'claims' }] },
      key: ['key1'],
      at: 'deleted_at',
      patient: 'key2',
    });
    expect(m.children.map((c) => c.lastUpdated)).toEqual([
      { column: 'last_updated' },
      { table: 'transactions', column: 'changed_at' },
      undefined,
    ]);
    const soft = compile(claims.replace(/ {2}deleted: .*\n/, '  deleted: { column: Deleted_At }\n')).mappings[0]!;
    expect(soft.source.deleted).toEqual({ kind: 'column', column: 'deleted_at' });
  });

  it('says where a deletion declaration is wrong', () => {
    const wrongKey = claims.replace('key: [key1]', 'key: [key1, key3]');
    expect(compileErrors(wrongKey)).toContainEqual({
      ...posOf(wrongKey, '[key1, key3]'),
      message: expect.stringMatching(/names 2 column\(s\); source.key has 1/),
    });
    const mixed = claims.replace('at: deleted_at,', 'at: deleted_at, column: gone,');
    expect(compileErrors(mixed)[0]!.message).toMatch(/"table" belongs to a tombstone table/);
    const noAt = claims.replace(' at: deleted_at,', '');
    expect(compileErrors(noAt)[0]!.message).toMatch(/needs "at"/);
    const badChild = claims.replace('{ table: transactions, column: changed_at }', '{ table: transactions, colum: changed_at }');
    expect(compileErrors(badChild).map((e) => e.message)).toContainEqual(expect.stringMatching(/unknown key "colum"/));
  });
});

describe('planExport with _since', () => {
  const mappings = compile(claims);

  it('reads the changed parents, then the parents of changed child rows (children without lastUpdated add nothing)', () => {
    const plan = planExport({ mappings, since: SINCE });
    expect(plan.runs).toHaveLength(1);
    const run = plan.runs[0]!;
    expect(run.dedupe).toBe(true);
    expect(run.queries.map((q) => q.where)).toEqual([
      [{ column: 'last_updated', op: '>', value: SINCE }],
      [
        {
          column: 'id',
          op: 'in query',
          columns: ['id'],
          select: { query: { table: 'claim_lines', where: [{ column: 'last_updated', op: '>', value: SINCE }] }, columns: ['claimid'] },
        },
      ],
      [
        {
          column: 'id',
          op: 'in query',
          columns: ['id'],
          select: { query: { table: 'transactions', where: [{ column: 'changed_at', op: '>', value: SINCE }] }, columns: ['claimid'] },
        },
      ],
    ]);
    expect(plan.notes).toEqual([]);
  });

  it('lists the tombstones after _since, for the types asked for, limited to the export patients', () => {
    const all = planExport({ mappings, since: SINCE, types: ['Claim'] });
    expect(all.deletions).toEqual([
      expect.objectContaining({
        types: ['Claim'],
        key: ['key1'],
        at: 'deleted_at',
        query: {
          table: 'deleted_rows',
          where: [
            { column: 'table_name', op: '=', value: 'claims' },
            { column: 'deleted_at', op: '>', value: SINCE },
          ],
        },
      }),
    ]);
    const some = planExport({ mappings, since: SINCE, patientKeys: ['p1', 'p2', 'p1'] });
    expect(some.deletions[0]!.query.where).toContainEqual({ column: 'key2', op: 'in', value: ['p1', 'p2'] });
    // without a patient column the deletions of a patient export cannot be told apart: none, and a note
    const noPatient = compile(claims.replace(', patient: key2', ''));
    const plan = planExport({ mappings: noPatient, since: SINCE, patientKeys: ['p1'] });
    expect(plan.deletions).toEqual([]);
    expect(plan.notes).toEqual([expect.stringMatching(/deletions name no patient/)]);
    // no _since, no deletions
    expect(planExport({ mappings }).deletions).toEqual([]);
  });

  it('a soft-delete column hides deleted rows from every export and lists those deleted after _since', () => {
    const soft = compile(claims.replace(/ {2}deleted: .*\n/, '  deleted: { column: deleted_at }\n'));
    expect(planExport({ mappings: soft }).runs[0]!.queries[0]!.where).toEqual([{ column: 'deleted_at', op: 'is null' }]);
    const plan = planExport({ mappings: soft, since: SINCE, patientKeys: ['p1'] });
    expect(plan.runs[0]!.queries[0]!.where).toEqual([
      { column: 'deleted_at', op: 'is null' },
      { column: 'last_updated', op: '>', value: SINCE },
      { column: 'patientid', op: 'in', value: ['p1'] },
    ]);
    expect(plan.deletions[0]!.query).toEqual({
      table: 'claims',
      where: [
        { column: 'deleted_at', op: '>', value: SINCE },
        { column: 'patientid', op: 'in', value: ['p1'] },
      ],
    });
    expect(plan.deletions[0]!.key).toEqual(['id']);
  });
});

describe('a child change as SQL', () => {
  const changed: Filter = {
    column: 'patient',
    op: 'in query',
    columns: ['patient', 'encounter'],
    select: {
      query: { table: 'observations', where: [{ column: 'last_updated', op: '>', value: SINCE }] },
      columns: ['patient', 'encounter'],
    },
  };

  it('postgres, mysql, sqlite and oracle: a row-value IN subquery, one bound instant', () => {
    const pg = buildSelect('postgres', { table: 'reports', where: [changed] });
    expect(pg.sql).toBe(
      'select * from "reports" where ("patient", "encounter") in (select "patient", "encounter" from "observations" where "last_updated" > $1)',
    );
    expect(pg.bindings).toHaveLength(1);
    expect(buildSelect('mysql', { table: 'reports', where: [changed] }).sql).toBe(
      'select * from `reports` where (`patient`, `encounter`) in (select `patient`, `encounter` from `observations` where `last_updated` > ?)',
    );
    expect(buildSelect('oracle', { table: 'reports', where: [changed] }).sql).toContain(
      '("PATIENT", "ENCOUNTER") in (select "PATIENT", "ENCOUNTER" from "OBSERVATIONS" where "LAST_UPDATED" > :1)',
    );
  });

  it('a single join column, from a sql source (and a sql subquery), on SQL Server', () => {
    const built = buildSelect('mssql', {
      sql: 'SELECT * FROM claims c',
      where: [
        {
          column: 'id',
          op: 'in query',
          select: {
            query: { sql: 'SELECT claimid, changed FROM t', where: [{ column: 'changed', op: '>', value: SINCE }] },
            columns: ['claimid'],
          },
        },
      ],
    });
    expect(built.sql).toBe(
      'select * from (SELECT * FROM claims c) src where [id] in (select [sub].[claimid] from (SELECT claimid, changed FROM t) sub where [changed] > @p0)',
    );
  });
});
