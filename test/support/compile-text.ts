// Shared by the mapping unit tests: compile YAML text and locate a marker in it, so that expected
// file:line:column values are derived from the text rather than copied from the output.
import { resolve } from 'node:path';
import { MappingErrors } from '../../src/errors.js';
import { compileMappingSource } from '../../src/mapping/index.js';
import type { CompiledMappingSet } from '../../src/mapping/types.js';

export const FILE = resolve('/virtual/mappings/test.yaml');

export function compile(text: string, timezone?: string): CompiledMappingSet {
  return compileMappingSource(text, FILE, timezone ? { timezone } : {});
}

/** 1-based line and column of the `nth` occurrence of `marker` in `text`. */
export function posOf(text: string, marker: string, nth = 0): { line: number; column: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(marker, at + 1);
    if (at < 0) throw new Error(`marker ${marker} not found`);
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - before.lastIndexOf('\n') };
}

/** The MappingErrors compiling `text` throws, as "line:col message" strings. */
export function compileErrors(text: string): Array<{ line: number; column: number; message: string }> {
  try {
    compile(text);
  } catch (e) {
    if (e instanceof MappingErrors)
      return e.errors.map((x) => ({ line: x.location?.line ?? 0, column: x.location?.column ?? 0, message: x.detail }));
    throw e;
  }
  throw new Error('expected compile errors, got none');
}
