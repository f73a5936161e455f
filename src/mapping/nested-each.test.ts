// `$each` inside `$each` with `$on`: the rows of another child that match the outer child row (an
// ImagingStudy's series and, inside each, that series' instances).
import { describe, expect, it } from 'vitest';
import { compile, compileErrors, posOf } from '../../test/support/compile-text.js';

const STUDY = `
mapping: study
source: { table: studies, key: ID }
children:
  series: { table: series, on: { STUDY: ID }, orderBy: [UID] }
  images: { table: images, on: { STUDY: ID }, orderBy: [UID] }
resources:
  - resourceType: ImagingStudy
    template:
      status: available
      subject: { reference: "Patient/{PAT}" }
      series:
        $each: series
        $template:
          uid: "{UID}"
          modality: { code: "{MODALITY}" }
          instance:
            $each: images
            $on: { SERIES: UID }
            $template: { uid: "{UID}", sopClass: { code: "{SOP}" }, title: "{parent.NAME}" }
`;

describe('$each … $on inside $each', () => {
  it('gives each outer row the inner rows whose $on columns equal its own', () => {
    const m = compile(STUDY).byName.get('study')!;
    const { resources, issues } = m.map(
      { id: 's1', pat: 'p1', name: 'chest' },
      {
        series: [
          { study: 's1', uid: 'a', modality: 'DX' },
          { study: 's1', uid: 'b', modality: 'CT' },
        ],
        images: [
          { study: 's1', series: 'a', uid: 'a.1', sop: '1.2' },
          { study: 's1', series: 'b', uid: 'b.1', sop: '1.3' },
          { study: 's1', series: 'a', uid: 'a.2', sop: '1.2' },
        ],
      },
    );
    expect(issues).toEqual([]);
    expect((resources[0] as unknown as { series: unknown }).series).toEqual([
      {
        uid: 'a',
        modality: { code: 'DX' },
        instance: [
          { uid: 'a.1', sopClass: { code: '1.2' }, title: 'chest' },
          { uid: 'a.2', sopClass: { code: '1.2' }, title: 'chest' },
        ],
      },
      { uid: 'b', modality: { code: 'CT' }, instance: [{ uid: 'b.1', sopClass: { code: '1.3' }, title: 'chest' }] },
    ]);
  });

  it('is an error without $on inside $each, and $on outside $each', () => {
    const without = STUDY.replace('            $on: { SERIES: UID }\n', '');
    expect(compileErrors(without)).toContainEqual({
      ...posOf(without, 'images', 2),
      message: expect.stringContaining('$each inside $each needs $on'),
    });
    const outside = STUDY.replace('        $each: series\n', '        $each: series\n        $on: { X: Y }\n');
    expect(compileErrors(outside)).toContainEqual({
      ...posOf(outside, '$on', 0),
      message: expect.stringContaining('only goes inside $each'),
    });
  });
});
