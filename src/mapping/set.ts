// Mapping files → a linked CompiledMappingSet: compiles every document, rejects duplicate names and resolves
// each `$ref` against its target's key and id rule. All errors of the set are thrown together.
import { basename } from 'node:path';
import { formatLocation, MappingError, MappingErrors } from '../errors.js';
import type { ColumnUse } from './context.js';
import { compileDocument, type Engine, type MappingDraft } from './compile.js';
import { getZone, type Zone } from './datetime.js';
import { parseYamlFile } from './parse.js';
import { fragmentSchemaErrors, schemaErrors } from './schema.js';
import { Includer, isFragmentFile } from './include.js';
import type { CompiledMapping, CompiledMappingSet } from './types.js';

export interface CompileOptions {
  /** IANA zone for timestamps without an offset and for rendering dateTime/instant (default UTC) */
  timezone?: string;
  /** 'interpreted' runs templates as closures instead of generated code (to compare the two; default compiled) */
  engine?: Engine;
}

export interface SourceFile {
  file: string;
  text: string;
}

/** Columns each mapping reads, by mapping (kept beside the set rather than on the public contract). */
export const columnUses = new WeakMap<CompiledMapping, ColumnUse[]>();

export function compileFiles(files: SourceFile[], options: CompileOptions = {}): CompiledMappingSet {
  const errors: MappingError[] = [];
  let zone: Zone;
  const zoneName = options.timezone ?? 'UTC';
  try {
    zone = getZone(zoneName);
  } catch {
    throw new MappingErrors([
      new MappingError(`unknown time zone ${JSON.stringify(zoneName)}: expected an IANA name such as America/New_York`),
    ]);
  }
  const drafts: MappingDraft[] = [];
  // Names of documents that failed: a $ref to one is not reported again as "unknown mapping".
  const failed = new Set<string>();
  const includer = new Includer();
  for (const { file, text } of files) {
    const parsed = parseYamlFile(text, file);
    errors.push(...parsed.errors);
    if (isFragmentFile(file)) {
      // Given explicitly (the folder walk skips them): only its frame can be checked on its own.
      for (const doc of parsed.documents) errors.push(...fragmentSchemaErrors(doc));
      continue;
    }
    const defaultName = basename(file).replace(/\.ya?ml$/i, '');
    for (const raw of parsed.documents) {
      const { doc, errors: includeErrors } = includer.expand(raw, file);
      if (includeErrors.length > 0) {
        // Compiling a half-expanded document would only add errors that follow from these.
        errors.push(...includeErrors);
        const named = (raw.value as { mapping?: unknown } | null)?.mapping;
        failed.add(typeof named === 'string' ? named : defaultName);
        continue;
      }
      const { draft, errors: docErrors, name } = compileDocument(doc, file, defaultName, zone, zoneName, options.engine);
      errors.push(...docErrors);
      // The schema catches what the compiler's own checks do not; where both object to the same node the
      // compiler's message is kept.
      const taken = new Set(docErrors.map((e) => formatLocation(e.location)));
      for (const e of schemaErrors(doc)) if (!taken.has(formatLocation(e.location))) errors.push(e);
      if (draft) drafts.push(draft);
      else if (name) failed.add(name);
    }
  }
  const byName = new Map<string, CompiledMapping>();
  for (const d of drafts) {
    const prev = byName.get(d.mapping.name);
    if (prev) {
      errors.push(
        new MappingError(
          `duplicate mapping name "${d.mapping.name}" (also at ${prev.file}:${prev.location.line}:${prev.location.column}); set "mapping:" to a unique name`,
          d.nameLocation,
        ),
      );
      continue;
    }
    byName.set(d.mapping.name, d.mapping);
  }
  for (const d of drafts) {
    for (const ref of d.refs) {
      const target = byName.get(ref.target);
      if (!target) {
        if (failed.has(ref.target)) continue;
        errors.push(
          new MappingError(
            `unknown mapping "${ref.target}" in $ref: expected one of ${[...byName.keys()].join(', ') || '(none)'}`,
            ref.location,
          ),
        );
        continue;
      }
      let type = ref.resourceType;
      if (type === undefined) {
        if (target.resourceTypes.length !== 1) {
          errors.push(
            new MappingError(
              `$ref: mapping "${ref.target}" makes ${target.resourceTypes.join(', ')}: add $resourceType to pick one`,
              ref.location,
            ),
          );
          continue;
        }
        type = target.resourceTypes[0]!;
      } else if (!target.resourceTypes.includes(type)) {
        errors.push(
          new MappingError(`$ref: mapping "${ref.target}" makes no ${type} (it makes ${target.resourceTypes.join(', ')})`, ref.location),
        );
        continue;
      }
      const ids = new Set(target.resources.filter((r) => r.resourceType === type).map((r) => r.idTemplate ?? ''));
      if (ids.size > 1) {
        errors.push(
          new MappingError(
            `$ref: mapping "${ref.target}" makes several ${type} resources with different ids (${[...ids].map((t) => t || 'hash').join(', ')}): write this reference as a string template instead`,
            ref.location,
          ),
        );
        continue;
      }
      if (ref.arity !== target.source.key.length) {
        errors.push(
          new MappingError(
            `$ref: $key has ${ref.arity} column(s) but mapping "${ref.target}" has key [${target.source.key.join(', ')}] (${target.source.key.length})`,
            ref.location,
          ),
        );
        continue;
      }
      const t = type;
      ref.reference = (key) => {
        const id = target.idFor(t, key);
        return id === undefined ? undefined : `${t}/${id}`;
      };
    }
    columnUses.set(d.mapping, d.columns);
  }
  if (errors.length > 0) throw new MappingErrors(errors);
  const mappings = drafts.map((d) => d.mapping);
  return { mappings, byName, resourceTypes: [...new Set(mappings.flatMap((m) => m.resourceTypes))] };
}
