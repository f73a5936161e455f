// Finding and loading mapping files from folders.
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MappingError, MappingErrors } from '../errors.js';
import { isFragmentFile } from './include.js';
import { compileFiles, type CompileOptions, type SourceFile } from './set.js';
import type { CompiledMappingSet } from './types.js';

/** Mapping files under `paths` (files, or folders: every *.yaml except *.test.yaml, lookups/** and fragment
 *  files and folders, whose names start with "_"). */
export async function mappingFiles(paths: string[], suffix: 'mapping' | 'test' = 'mapping'): Promise<string[]> {
  const out: string[] = [];
  const wanted = (name: string) => {
    const isTest = /\.test\.ya?ml$/i.test(name);
    return /\.ya?ml$/i.test(name) && !isFragmentFile(name) && (suffix === 'test' ? isTest : !isTest);
  };
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'lookups' && !e.name.startsWith('.') && !e.name.startsWith('_') && e.name !== 'node_modules') await walk(p);
      } else if (wanted(e.name)) out.push(p);
    }
  };
  for (const raw of paths) {
    const p = resolve(raw);
    let s: Stats;
    try {
      s = await stat(p);
    } catch {
      throw new MappingErrors([new MappingError(`mapping path ${p} does not exist`)]);
    }
    if (s.isDirectory()) await walk(p);
    else out.push(p);
  }
  return out;
}

/** Loads and compiles every mapping under `paths`; throws MappingErrors listing every problem found. */
export async function loadMappingSet(paths: string[], options: CompileOptions = {}): Promise<CompiledMappingSet> {
  const files = await mappingFiles(paths);
  const sources: SourceFile[] = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
  return compileFiles(sources, options);
}
