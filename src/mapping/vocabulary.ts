// The words of the mapping language, each list written once: the compiler checks documents against these
// lists and mappings/mapping.schema.json must offer exactly the same words (vocabulary.test.ts compares
// them), so adding a directive, a `$as` type or a key means adding it here and in the schema, or a test fails.
// Dialect names (the keys of a per-dialect `sql:`) come from the connectors' registry (DIALECT_NAMES).
import type { FilterOp } from '../connectors/types.js';

/** Keys of a mapping document (after `$include` / `extends` are expanded). */
export const TOP_KEYS = ['mapping', 'description', 'source', 'children', 'lookups', 'search', 'resources'] as const;
/** Keys of `source:`. */
export const SOURCE_KEYS = ['table', 'sql', 'key', 'patient', 'lastUpdated', 'deleted', 'where'] as const;
/** Keys of `source.deleted:`: a tombstone table (or sql), or a soft-delete `column` of the source alone. */
export const DELETED_KEYS = ['table', 'sql', 'where', 'key', 'at', 'patient', 'column'] as const;
/** Keys of one child under `children:`. */
export const CHILD_KEYS = ['table', 'sql', 'where', 'on', 'orderBy', 'lastUpdated'] as const;
/** Keys of a child's `lastUpdated:` written as a map (another table holding the child's `on` columns). */
export const CHILD_LAST_UPDATED_KEYS = ['table', 'column'] as const;
/** Keys of one entry of `resources:`. */
export const RESOURCE_KEYS = ['resourceType', 'profile', 'id', 'when', 'template'] as const;
/** Keys of one lookup under `lookups:` (`use` names a shared lookups/<name>.yaml and stands alone). */
export const LOOKUP_KEYS = ['map', 'default', 'file', 'ignoreCase', 'use'] as const;
/** Operators of a `where:` condition written as `{ column, op, value }`. */
export const WHERE_OPS: readonly FilterOp[] = ['=', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'is null', 'is not null'];

/** Reuse keys, expanded away before a document is compiled: anywhere, and at the top of a mapping. */
export const INCLUDE_KEYS = ['$include', '$with'] as const;
export const EXTENDS_KEYS = ['extends', 'with'] as const;

/** Value forms of a template and, for each, the companion directives it accepts besides itself. */
// (`$lookup` beside `$column` is the lookup form, whatever the order here.)
export const FORMS = {
  $column: ['$as', '$tz'],
  $fhirpath: ['$as', '$tz'],
  $lookup: ['$column', '$value'],
  $ref: ['$key', '$resourceType'],
  $each: ['$template', '$on'],
  $if: ['$then', '$else'],
  $first: [],
  $literal: [],
} as const satisfies Record<string, readonly string[]>;

/** Every template directive: the forms, their companions, and `$when` (allowed on any object). */
export const DIRECTIVES: readonly string[] = [
  ...new Set([...Object.entries(FORMS).flatMap(([form, companions]) => [form, ...companions]), '$when']),
];

/** `$as` types whose value is text (checked, trimmed), then the ones with their own JSON form. */
export const TEXT_TYPES = ['string', 'code', 'id', 'uri', 'url', 'canonical', 'markdown', 'oid', 'uuid', 'base64Binary', 'time'] as const;
export const AS_TYPES = [
  ...TEXT_TYPES,
  'date',
  'dateTime',
  'instant',
  'decimal',
  'integer',
  'positiveInt',
  'unsignedInt',
  'boolean',
] as const;
export type AsType = (typeof AS_TYPES)[number];

export function isAsType(s: unknown): s is AsType {
  return typeof s === 'string' && (AS_TYPES as readonly string[]).includes(s);
}
