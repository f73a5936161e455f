// Rebuilds profiles.json.gz (used by src/fhir/required-elements.ts) from the project's conformance data:
//   node src/fhir/assets/build-profiles.mjs /work/shared/data/fhir-r4-conformance
// Keeps, per StructureDefinition snapshot element, only what a cardinality/slice check needs, plus the
// ValueSets that discriminate slices by a required binding (e.g. C4BB's adjudicationamounttype).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';

const root = process.argv[2] ?? '/work/shared/data/fhir-r4-conformance';
const sdFolders = ['hl7.fhir.us.carin-bb-2.0.0', 'hl7.fhir.us.core-6.1.0'].map((f) => join(root, 'structuredefinitions', f));
const packages = ['hl7.fhir.us.carin-bb-2.0.0.tgz', 'hl7.fhir.us.core-6.1.0.tgz'].map((f) => join(root, 'packages', f));

const profiles = {};
const wantedValueSets = new Set();
for (const folder of sdFolders) {
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.json'))) {
    const sd = JSON.parse(readFileSync(join(folder, file), 'utf8'));
    if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || !sd.snapshot) continue;
    const elements = sd.snapshot.element.map((e) => {
      const out = { id: e.id, min: e.min ?? 0, max: e.max ?? '*' };
      if (e.sliceName) out.sliceName = e.sliceName;
      if (e.slicing) out.discriminator = (e.slicing.discriminator ?? []).map((d) => ({ type: d.type, path: d.path }));
      for (const [k, v] of Object.entries(e)) if (k.startsWith('fixed') || k.startsWith('pattern')) out.pattern = v;
      if (e.binding?.strength === 'required' && e.binding.valueSet && e.id.includes(':')) {
        out.valueSet = e.binding.valueSet.split('|')[0];
        wantedValueSets.add(out.valueSet);
      }
      if (e.type?.length) out.types = e.type.map((t) => t.code);
      return out;
    });
    profiles[sd.url] = { type: sd.type, version: sd.version, elements };
  }
}

// ValueSets reduced to { system, codes? } includes (codes absent = the whole system).
const valueSets = {};
for (const pkg of packages) {
  const listing = execFileSync('tar', ['tzf', pkg], { encoding: 'utf8' }).split('\n').filter((f) => /^package\/ValueSet-.*\.json$/.test(f));
  for (const entry of listing) {
    const vs = JSON.parse(execFileSync('tar', ['xzOf', pkg, entry], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    if (!wantedValueSets.has(vs.url)) continue;
    valueSets[vs.url] = (vs.compose?.include ?? []).map((inc) => ({
      system: inc.system,
      ...(inc.concept ? { codes: inc.concept.map((c) => c.code) } : {}),
      ...(inc.valueSet ? { valueSets: inc.valueSet } : {}),
    }));
  }
}

const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, 'profiles.json.gz'), gzipSync(JSON.stringify({ profiles, valueSets }), { level: 9 }));
console.log(`${Object.keys(profiles).length} profiles, ${Object.keys(valueSets).length} value sets`);
