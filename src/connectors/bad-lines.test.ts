// A CSV line that cannot be a row (too few or too many fields, a quote never closed, bytes not in the file's
// encoding) is told to the stream's onBadRow listener with its file and line, and the read carries on with
// every other row, on the CSV connector's plain scans, its scratch SQLite copies and DuckDB's copies alike.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../test/support/collect-rows.js';
import { scratchConnector } from '../../test/support/scratch-connector.js';
import { ConnectorError } from '../errors.js';
import { locateTable, readCsv, type CsvLineIssue } from './csv-files.js';
import { openAdapter } from './index.js';
import type { SourceAdapter, SourceQuery, SourceRowIssue } from './types.js';

const tmp = scratchConnector({ beforeAll, afterAll }, 'csv', (dir) => dir);

// line 1 header; 3 short; 5 long; 7 opens a quote that never closes, which takes 8-10 along unless recovered
const PEOPLE = ['ID,NAME,AGE', '1,Ann,30', '2,Bob', '3,Cy,40', '4,Di,50,extra', '5,Ed,60', '6,"Fay,70', '7,Gil,80', '8,Hal,90', '9,Ivy,10'];
const GOOD_IDS = ['1', '3', '5', '7', '8', '9'];
// "Müller" in latin1: ü is the single byte 0xFC, which is not UTF-8
const LATIN1 = Buffer.concat([Buffer.from('ID,NAME\n1,M'), Buffer.from([0xfc]), Buffer.from('ller\n2,Smith\n')]);

beforeAll(async () => {
  await writeFile(path.join(tmp.dir, 'people.csv'), `${PEOPLE.join('\n')}\n`);
  await writeFile(path.join(tmp.dir, 'names.csv'), LATIN1);
  // a quote that closes lines later, followed by garbage: the lines in between are rows of their own
  await writeFile(path.join(tmp.dir, 'late.csv'), 'ID,NAME\n1,"Ann\n2,Bob\n3,"Cy"x\n4,Di\n');
});

function lines(issues: Array<Pick<SourceRowIssue, 'line'>>): number[] {
  return issues.map((i) => i.line);
}

describe('readCsv', () => {
  it('reports each bad line once with its line number and reads every other row', async () => {
    const issues: CsvLineIssue[] = [];
    const rows = await collect(readCsv(await locateTable({ folder: tmp.dir }, 'people'), { onBadRow: (i) => issues.push(i) }));
    expect(rows.map((r) => r.id)).toEqual(GOOD_IDS);
    expect(lines(issues)).toEqual([3, 5, 7]);
    expect(issues[0]!.message).toMatch(/expected 3 .* got 2/);
    expect(issues[1]!.message).toMatch(/expected 3 .* got 4/);
    expect(issues[2]!.message).toMatch(/Quote Not Closed/i);
    expect(issues.every((i) => i.file === path.join(tmp.dir, 'people.csv') && i.severity === 'error')).toBe(true);
  });

  it('recovers the lines a quote closed later swallowed', async () => {
    const issues: CsvLineIssue[] = [];
    const rows = await collect(readCsv(await locateTable({ folder: tmp.dir }, 'late'), { onBadRow: (i) => issues.push(i) }));
    expect(rows.map((r) => r.id)).toEqual(['2', '4']);
    expect(lines(issues)).toEqual([2, 4]);
    // the second is found on a read that starts at line 3: its message still names the file's line
    expect(issues[1]!.message).toMatch(/at line 4\b/);
  });

  it('without a listener, the first bad line fails the read with file and line', async () => {
    const read = collect(readCsv(await locateTable({ folder: tmp.dir }, 'people')));
    await expect(read).rejects.toBeInstanceOf(ConnectorError);
    await expect(collect(readCsv(await locateTable({ folder: tmp.dir }, 'people')))).rejects.toThrow(`people.csv:3`);
  });

  it('reads latin1 bytes with encoding latin1; without, keeps the row and warns with line and column', async () => {
    const source = await locateTable({ folder: tmp.dir }, 'names');
    const issues: CsvLineIssue[] = [];
    expect(await collect(readCsv(source, { encoding: 'latin1', onBadRow: (i) => issues.push(i) }))).toEqual([
      { id: '1', name: 'Müller' },
      { id: '2', name: 'Smith' },
    ]);
    expect(issues).toEqual([]);
    const rows = await collect(readCsv(source, { onBadRow: (i) => issues.push(i) }));
    expect(rows.map((r) => r.id)).toEqual(['1', '2']);
    expect(rows[0]!.name).toBe('M\uFFFDller');
    expect(issues).toMatchObject([{ line: 2, column: 'name', severity: 'warning' }]);
    expect(issues[0]!.message).toMatch(/not valid UTF-8.*encoding: latin1/);
  });

  it('refuses an encoding it cannot decode', async () => {
    const source = await locateTable({ folder: tmp.dir }, 'names');
    await expect(collect(readCsv(source, { encoding: 'klingon' }))).rejects.toThrow(/encoding 'klingon'/);
  });
});

for (const kind of ['csv', 'duckdb'] as const) {
  describe(`${kind} connector`, () => {
    let adapter: SourceAdapter;
    beforeAll(async () => {
      adapter = await openAdapter({ ...tmp.config(), kind, name: `bad-${kind}` });
    });
    afterAll(() => adapter.close());

    async function read(query: SourceQuery): Promise<{ ids: unknown[]; issues: SourceRowIssue[] }> {
      const issues: SourceRowIssue[] = [];
      const rows = await collect(adapter.stream(query, { onBadRow: (i) => issues.push(i) }));
      return { ids: rows.map((r) => r.id), issues };
    }

    it('tells the short and the long line, names connector, table and file, and keeps the rest', async () => {
      for (const query of [{ table: 'people' }, { table: 'people', orderBy: ['id'] }, { sql: 'select * from people order by id' }]) {
        const { ids, issues } = await read(query);
        // DuckDB reads an unclosed quote as text, so its line 7 is a row (Fay, "Fay)
        expect(ids).toEqual(kind === 'csv' ? GOOD_IDS : ['1', '3', '5', '6', '7', '8', '9']);
        expect(lines(issues)).toEqual(kind === 'csv' ? [3, 5, 7] : [3, 5]);
        expect(issues[0]).toMatchObject({ connector: `bad-${kind}`, table: 'people', file: path.join(tmp.dir, 'people.csv') });
      }
    });

    it('a query over the copy without a listener fails on the skipped line', async () => {
      await expect(collect(adapter.stream({ table: 'people', orderBy: ['id'] }))).rejects.toThrow(/people\.csv:3/);
    });
  });

  it(`${kind}: encoding latin1 reads Müller; without it the line is reported`, async () => {
    const latin = await openAdapter({ ...tmp.config({ encoding: 'latin1' }), kind });
    const plain = await openAdapter({ ...tmp.config(), kind });
    try {
      for (const query of [{ table: 'names' }, { table: 'names', orderBy: ['id'] }]) {
        const issues: SourceRowIssue[] = [];
        const rows = await collect(latin.stream(query, { onBadRow: (i) => issues.push(i) }));
        expect(rows.find((r) => r.id === '1')?.name).toBe('Müller');
        expect(issues).toEqual([]);
        const reported: SourceRowIssue[] = [];
        await collect(plain.stream(query, { onBadRow: (i) => reported.push(i) }));
        expect(reported).toMatchObject([{ line: 2, table: 'names' }]);
        expect(reported[0]!.message).toMatch(/utf-8/i);
      }
    } finally {
      await latin.close();
      await plain.close();
    }
  });
}
