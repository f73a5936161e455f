// Reuse keeps the CMS claim set small: before fragments ($include / extends) the folder's YAML was 5,573
// lines, most of them repeated across the seven claim mappings. Issue 7 asked for at most half; this keeps
// copy-and-paste from creeping back (the golden export test keeps the output the same).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const CMS = path.resolve(import.meta.dirname, '../../mappings/cms-ccw-rif');
const LINES_BEFORE_FRAGMENTS = 5573;

it('the CMS RIF mapping set (mappings, fragments and mapping tests) is at most half its size before fragments', () => {
  const files = readdirSync(CMS).filter((f) => f.endsWith('.yaml'));
  expect(files.some((f) => f.startsWith('_'))).toBe(true);
  const lines = files.reduce((n, f) => n + readFileSync(path.join(CMS, f), 'utf8').split('\n').length - 1, 0);
  expect(lines).toBeLessThanOrEqual(LINES_BEFORE_FRAGMENTS / 2);
});
