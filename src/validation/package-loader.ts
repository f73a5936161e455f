// Reads a published FHIR NPM package (`hl7.fhir.us.core-6.1.0.tgz`) as it is distributed: a gzipped tar of
// `package/*.json` (conformance resources) and `package/example/*.json` (examples). Only JSON files are
// read; the xml/openapi/other folders are skipped. No FHIR package loader library on npm reads a local .tgz
// without a registry or cache directory, so this is tar-stream over node:zlib.
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** A FHIR resource as parsed JSON (the validator works on plain JSON, never on typed classes). */
export type FhirJson = Record<string, unknown> & { resourceType: string };

export interface FhirPackage {
  /** package.json `name`, e.g. hl7.fhir.us.core */
  name: string;
  version: string;
  /** package.json `dependencies` (name → version) */
  dependencies: Record<string, string>;
  /** `package/*.json` resources (StructureDefinition, ValueSet, CodeSystem, SearchParameter, …) */
  resources: FhirJson[];
  /** `package/example/*.json`, with the file name each came from */
  examples: Array<{ file: string; resource: FhirJson }>;
  /** where the package was read from */
  source: string;
}

export class FhirPackageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FhirPackageError';
  }
}

/** Reads one `.tgz` FHIR package from disk. */
export async function readFhirPackage(file: string): Promise<FhirPackage> {
  let bytes: Buffer;
  try {
    bytes = gunzipSync(await readFile(file));
  } catch (cause) {
    throw new FhirPackageError(`${file}: not a readable gzipped FHIR package (${(cause as Error).message})`, { cause });
  }
  const files = await untar(bytes, file);
  const manifestText = files.get('package/package.json');
  if (!manifestText) throw new FhirPackageError(`${file}: no package/package.json (not a FHIR package)`);
  const manifest = JSON.parse(manifestText) as { name?: string; version?: string; dependencies?: Record<string, string> };
  if (!manifest.name || !manifest.version) throw new FhirPackageError(`${file}: package.json has no name or version`);
  const pkg: FhirPackage = {
    name: manifest.name,
    version: manifest.version,
    dependencies: manifest.dependencies ?? {},
    resources: [],
    examples: [],
    source: file,
  };
  for (const [name, text] of files) {
    const rest = name.slice('package/'.length);
    if (rest === 'package.json' || rest.startsWith('.') || rest.includes('/.')) continue;
    const isExample = rest.startsWith('example/') && !rest.slice('example/'.length).includes('/');
    if (!isExample && rest.includes('/')) continue;
    let resource: FhirJson;
    try {
      resource = JSON.parse(text) as FhirJson;
    } catch (cause) {
      throw new FhirPackageError(`${file}: ${name} is not valid JSON`, { cause });
    }
    if (typeof resource?.resourceType !== 'string') continue;
    if (isExample) pkg.examples.push({ file: rest, resource });
    else pkg.resources.push(resource);
  }
  return pkg;
}

/** The JSON files under `package/` by their path in the archive. */
async function untar(bytes: Buffer, file: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (entry.header.type === 'file' && name.startsWith('package/') && name.endsWith('.json')) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        files.set(name, Buffer.concat(chunks).toString('utf8'));
      } else {
        entry.resume();
      }
    }
  })();
  try {
    await Promise.all([done, pipeline(Readable.from([bytes]), extract)]);
  } catch (cause) {
    throw new FhirPackageError(`${file}: not a valid tar archive (${(cause as Error).message})`, { cause });
  }
  return files;
}
