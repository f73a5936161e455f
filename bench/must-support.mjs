// Must-support coverage of an export: for each profile the resources claim, which of its mustSupport
// elements (slices left out) at least one of those resources fills. A dev tool (not published):
//   node bench/must-support.mjs <export folder> [/path/to/fhir-r4-conformance]
// reads every *.ndjson of the folder and the US Core 6.1.0 / CARIN BB 2.0.0 StructureDefinitions of the
// project's conformance data; prints one line per profile and the elements never filled.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [dir, root = '/work/shared/data/fhir-r4-conformance'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/must-support.mjs <export folder> [fhir-r4-conformance folder]');
  process.exit(1);
}

/** profile URL → must-support element paths, e.g. ['name', 'name.family', 'value[x]'] */
const mustSupport = new Map();
for (const pkg of ['hl7.fhir.us.core-6.1.0', 'hl7.fhir.us.carin-bb-2.0.0']) {
  const folder = join(root, 'structuredefinitions', pkg);
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.json'))) {
    const sd = JSON.parse(readFileSync(join(folder, file), 'utf8'));
    if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || !sd.snapshot) continue;
    const paths = sd.snapshot.element
      .filter((e) => e.mustSupport && !e.id.includes(':') && e.id.includes('.'))
      .map((e) => e.id.slice(e.id.indexOf('.') + 1));
    mustSupport.set(sd.url, paths);
  }
}

/** Whether a resource has a value at a dotted element path (arrays flattened, `x[x]` any choice type). */
function has(value, steps) {
  if (steps.length === 0) return value !== undefined && value !== null;
  if (Array.isArray(value)) return value.some((v) => has(v, steps));
  if (!value || typeof value !== 'object') return false;
  const [step, ...rest] = steps;
  if (step.endsWith('[x]')) {
    const prefix = step.slice(0, -3);
    return Object.keys(value).some((k) => k.startsWith(prefix) && /^[A-Z]/.test(k.slice(prefix.length)) && has(value[k], rest));
  }
  return has(value[step], rest);
}

const seen = new Map(); // profile → { resources, filled: Set }
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ndjson') && !f.startsWith('OperationOutcome'))) {
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    for (const profile of r.meta?.profile ?? []) {
      const paths = mustSupport.get(profile);
      if (!paths) continue;
      const s = seen.get(profile) ?? { resources: 0, filled: new Set() };
      s.resources++;
      for (const p of paths) if (!s.filled.has(p) && has(r, p.split('.'))) s.filled.add(p);
      seen.set(profile, s);
    }
  }
}

let total = 0;
let filled = 0;
for (const [profile, s] of [...seen].sort(([a], [b]) => a.localeCompare(b))) {
  const paths = mustSupport.get(profile);
  const missing = paths.filter((p) => !s.filled.has(p));
  total += paths.length;
  filled += paths.length - missing.length;
  const pct = Math.round((100 * (paths.length - missing.length)) / paths.length);
  console.log(`${profile.split('/').pop()}: ${paths.length - missing.length}/${paths.length} (${pct}%) in ${s.resources} resources`);
  if (missing.length) console.log(`  never filled: ${missing.join(', ')}`);
}
console.log(`all profiles: ${filled}/${total} must-support elements filled (${Math.round((100 * filled) / total)}%)`);
