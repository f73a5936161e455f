// The resource type a literal reference names: `Patient/123`, `Patient/123/_history/2`, or an absolute URL
// ending so. Equivalent to the regex that specifies it (REFERENCE_TYPE in reference-type.test.ts, which checks
// the two agree), without a regex run and a match array per reference: references are on nearly every resource.

/** The index of the last `/` before index `before`, or -1. */
const slashBefore = (s: string, before: number): number => (before <= 0 ? -1 : s.lastIndexOf('/', before - 1));

const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isIdChar = (c: number): boolean => isLetter(c) || (c >= 48 && c <= 57) || c === 45 || c === 46;

/** s[from..to) is an id: 1 to 64 of [A-Za-z0-9\-.]. */
function isId(s: string, from: number, to: number): boolean {
  if (to - from < 1 || to - from > 64) return false;
  for (let i = from; i < to; i++) if (!isIdChar(s.charCodeAt(i))) return false;
  return true;
}

/** s[from..to) is a type name: an upper-case letter, then one or more letters. */
function isTypeName(s: string, from: number, to: number): boolean {
  if (to - from < 2) return false;
  const first = s.charCodeAt(from);
  if (first < 65 || first > 90) return false;
  for (let i = from + 1; i < to; i++) if (!isLetter(s.charCodeAt(i))) return false;
  return true;
}

/**
 * What `REFERENCE_TYPE.exec(ref)?.[1]` gives. The match ends the string and no part of it holds a slash,
 * so it is the last two `/`-separated segments (`Type/id`), or the last four when the one before the last
 * is `_history` (`Type/id/_history/vid`); the type segment starts the string or follows a slash. The two
 * forms exclude each other (`_history` is not a type name), so there is one candidate to test.
 */
export function referenceType(ref: string): string | undefined {
  const end = ref.length;
  const last = ref.lastIndexOf('/');
  if (last < 0 || !isId(ref, last + 1, end)) return undefined;
  let typeEnd = last;
  let typeStart = slashBefore(ref, last) + 1;
  if (last - typeStart === 8 && ref.startsWith('_history', typeStart)) {
    // Type/id/_history/vid: the id is the segment before `_history`, the type the one before that
    if (typeStart === 0) return undefined;
    const idEnd = typeStart - 1;
    const idStart = slashBefore(ref, idEnd) + 1;
    if (!isId(ref, idStart, idEnd)) return undefined;
    typeEnd = idStart - 1;
    typeStart = slashBefore(ref, typeEnd) + 1;
  }
  if (!isTypeName(ref, typeStart, typeEnd)) return undefined;
  return ref.slice(typeStart, typeEnd);
}
