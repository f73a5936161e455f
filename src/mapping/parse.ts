// YAML → plain values, keeping enough of the syntax tree to point any later error at file:line:column.
// Values are converted once with toJS(); positions are looked up by path only when something needs one
// (errors, and the template nodes whose location row issues carry), so the hot path never sees YAML nodes.
import { LineCounter, parseAllDocuments, isMap, isSeq, isPair, isScalar, type Document, type Node } from 'yaml';
import { MappingError, type SourceLocation } from '../errors.js';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

export interface ParsedDocument {
  /** plain JS value of the document (null for an empty document) */
  value: unknown;
  /** position of the node at `path`; `key: true` points at the map key instead of its value */
  locate(path: Path, key?: boolean): SourceLocation;
  /** the document start, for errors about the document as a whole */
  location: SourceLocation;
}

export interface ParsedFile {
  file: string;
  documents: ParsedDocument[];
  errors: MappingError[];
}

export function parseYamlFile(text: string, file: string): ParsedFile {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const errors: MappingError[] = [];
  const documents: ParsedDocument[] = [];
  // parseAllDocuments returns an EmptyStream (an array with no documents) for an empty text.
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const d = doc as Document.Parsed;
    for (const e of d.errors) {
      errors.push(new MappingError(`invalid YAML: ${firstLine(e.message)}`, at(e.pos[0])));
    }
    if (d.errors.length > 0) continue;
    const start = d.contents?.range?.[0] ?? d.range[0];
    const location = at(start);
    let value: unknown;
    try {
      value = d.toJS({ maxAliasCount: 100 });
    } catch (e) {
      errors.push(new MappingError(`invalid YAML: ${(e as Error).message}`, location));
      continue;
    }
    // A trailing `---` or a comment-only document is not a mapping.
    if (value === null || value === undefined) continue;
    documents.push({
      value,
      location,
      locate: (path, key) => at(offsetOf(d.contents as Node | null, path, key ?? false, start)),
    });
  }
  return { file, documents, errors };
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** Offset of the deepest node of `path` that exists (so a missing key points at its would-be parent). */
function offsetOf(root: Node | null, path: Path, key: boolean, fallback: number): number {
  let node: unknown = root;
  let offset = root?.range?.[0] ?? fallback;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) return offset;
      const k = pair.key as Node | null;
      if (last && key && k?.range) return k.range[0];
      const v = pair.value as Node | null;
      // `key:` with nothing after it has no value node; point at the key.
      if (!v?.range) return k?.range?.[0] ?? offset;
      node = v;
      offset = v.range[0];
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item?.range) return offset;
      node = item;
      offset = item.range[0];
    } else {
      return offset;
    }
  }
  return offset;
}

function keyText(k: unknown): string {
  if (isScalar(k)) return String(k.value);
  return String(k);
}
