import { describe, expect, it } from 'vitest';
import { GroupConfigError, parseGroups } from './group-directory.js';

describe('groups: in the connector file', () => {
  it('reads SQL and roster-table groups', () => {
    expect(
      parseGroups(
        {
          a: { name: 'A', sql: 'SELECT PATIENT FROM x', description: 'd' },
          'b-1': { name: 'B', table: 'roster', column: 'PATIENT', where: { PAYER: 'p', STOP: null, PLAN: ['x', 'y'] } },
        },
        'c.yaml',
      ),
    ).toEqual([
      { id: 'a', name: 'A', description: 'd', query: { sql: 'SELECT PATIENT FROM x' } },
      {
        id: 'b-1',
        name: 'B',
        column: 'patient',
        query: {
          table: 'roster',
          where: [
            { column: 'payer', op: '=', value: 'p' },
            { column: 'stop', op: 'is null' },
            { column: 'plan', op: 'in', value: ['x', 'y'] },
          ],
        },
      },
    ]);
    expect(parseGroups(undefined)).toEqual([]);
  });

  it('says what is wrong and where', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ 'bad id!': { name: 'x', sql: 's' } }, 'groups.bad id!: the id must be a FHIR id'],
      [{ a: { sql: 's' } }, 'groups.a: "name" is required'],
      [{ a: { name: 'A' } }, 'exactly one of "sql" and "table"'],
      [{ a: { name: 'A', sql: 's', table: 't' } }, 'exactly one of "sql" and "table"'],
      [{ a: { name: 'A', table: 't' } }, 'needs "column"'],
      [{ a: { name: 'A', sql: 's', members: [] } }, 'unknown key "members"'],
    ];
    for (const [raw, message] of cases) {
      expect(() => parseGroups(raw, 'c.yaml')).toThrow(GroupConfigError);
      expect(() => parseGroups(raw, 'c.yaml')).toThrow(message);
    }
  });
});
