// What the compile steps of one mapping document share: where errors go, the columns it reads (for
// `fhir-bridge validate`) and the `$ref`s to resolve once the whole set is compiled.
import type { Row } from '../connectors/types.js';
import { MappingError, type SourceLocation } from '../errors.js';
import type { Zone } from './datetime.js';
import type { Lookup, Reporter } from './lookups.js';
import type { ParsedDocument, Path } from './parse.js';

/** A column a mapping reads, with where it is referenced. `query` is 'source' or a child name. */
export interface ColumnUse {
  query: string;
  column: string;
  location: SourceLocation;
  /** what reads it: the element a template fills ('Patient.birthDate'), or the mapping key that names it
   *  ('source.key', 'children.lines.on'), for `fhir-bridge coverage` */
  element: string;
}

/** A `$ref` waiting for its target mapping; `idOf` is filled in when the set is linked. */
export interface RefSlot {
  target: string;
  resourceType: string | undefined;
  arity: number;
  location: SourceLocation;
  /** set by the linker: `Type/id` for the key values, undefined when they give no id */
  reference: ((key: unknown[]) => string | undefined) | undefined;
}

/** A value that failed at run time; becomes a RowIssue and drops the resource being built. */
export class RowError {
  constructor(
    readonly code: 'value' | 'code-invalid' | 'required' | 'processing',
    readonly message: string,
    readonly location: SourceLocation | undefined,
    readonly expression: string | undefined,
    readonly column?: string,
  ) {}
}

/** A template node's evaluator. `undefined` means "left out" (nothing empty reaches the output). */
export type Eval = (row: Row, parent: Row | undefined, children: Record<string, Row[]> | undefined) => unknown;

export class CompileContext implements Reporter {
  readonly errors: MappingError[] = [];
  readonly columns: ColumnUse[] = [];
  readonly refs: RefSlot[] = [];
  lookups = new Map<string, Lookup>();
  childNames = new Set<string>();

  constructor(
    readonly file: string,
    readonly doc: ParsedDocument,
    /** the connector's zone (timestamps without offset; rendering of dateTime/instant) */
    readonly zone: Zone,
    readonly zoneName: string,
  ) {}

  at(path: Path, key?: boolean): SourceLocation {
    return this.doc.locate(path, key);
  }

  error(path: Path, message: string, key?: boolean): void {
    this.errors.push(new MappingError(message, this.at(path, key)));
  }

  useColumn(query: string, column: string, path: Path, key?: boolean, element?: string): void {
    const named = element ?? path.filter((p): p is string => typeof p === 'string').join('.');
    this.columns.push({ query, column, location: this.at(path, key), element: named });
  }
}
