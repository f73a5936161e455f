// What `npm pack` publishes: the compiled CLI and library, the mappings, connectors and samples — and no
// tests, test helpers or dev tools. Reads the file list npm itself computes (package.json "files" plus
// npm's own rules), from the dist/ that `npm install` / `npm ci` built.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return pack!.files.map((f) => f.path);
}

describe.skipIf(!existsSync(path.join(ROOT, 'dist/cli/main.js')))('npm pack', () => {
  it('ships the CLI, mappings, connectors and samples but no tests, test helpers or dev tools', () => {
    const files = packedFiles();
    expect(files).toContain('dist/cli/main.js');
    expect(files.some((f) => f.startsWith('mappings/') && f.endsWith('.yaml'))).toBe(true);
    expect(files.some((f) => f.startsWith('connectors/') && f.endsWith('.yaml'))).toBe(true);
    expect(files.some((f) => f.startsWith('samples/'))).toBe(true);
    // the OMOP and MIMIC-IV samples stay in the repository (size; MIMIC's ODbL share-alike terms): see the README
    expect(files.filter((f) => /^samples\/(omop|mimic)/.test(f))).toEqual([]);
    expect(files).toContain('connectors/tables/omop-cdm54.yaml');
    expect(files).toContain('src/fhir/assets/fhir.schema.json.gz');
    // the FHIR packages the profile validator loads, as published
    expect(files).toContain('src/fhir/assets/packages/hl7.fhir.us.core-6.1.0.tgz');
    expect(files).toContain('src/fhir/assets/packages/hl7.fhir.us.carin-bb-2.0.0.tgz');

    const offending = files.filter(
      (f) =>
        /\.test\.(js|ts|mjs)(\.map)?$/.test(f) ||
        f.startsWith('test/') ||
        /(^|\/)bench\//.test(f) ||
        // of src/ only the data the built code reads (the R4 schema, profile extracts, FHIR packages) and its attribution
        (f.startsWith('src/') && !/^src\/fhir\/assets\/([^/]+\.(gz|md)|packages\/[^/]+\.tgz)$/.test(f)) ||
        /(^|\/)(test-support|test-fixtures|test-fakes|test-helpers|test-server|e2e-support|pipeline-fakes|adapter-contract|job-store-contract)\b/.test(
          f,
        ),
    );
    expect(offending).toEqual([]);
  });
});
