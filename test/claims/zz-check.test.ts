import { it } from 'vitest';
import { readFileSync } from 'node:fs';
import { schemaValidator } from '../../src/fhir/schema-validator.js';
import { missingRequiredElements } from '../../src/fhir/required-elements.js';
it('check', () => {
  const d = JSON.parse(readFileSync('/tmp/dump-syn.json', 'utf8'));
  const agg: Record<string, number> = {};
  const shown = new Set<string>();
  for (const r of d.resources) {
    const errs = schemaValidator().validate(r).map((e) => `schema ${e.path} ${e.message}`);
    for (const p of r.meta?.profile ?? []) errs.push(...missingRequiredElements(r, p).map((m) => `missing ${m.replace(/\[\d+\]/g, '[]')}`));
    for (const e of errs) agg[`${r.resourceType} ${(r.meta?.profile?.[0] ?? '').split('/').pop()} ${e}`] = (agg[`${r.resourceType} ${(r.meta?.profile?.[0] ?? '').split('/').pop()} ${e}`] ?? 0) + 1;
    const k = (r.meta?.profile?.[0] ?? r.resourceType) as string;
    if (!shown.has(k) && r.resourceType !== 'Organization') { shown.add(k); console.log(JSON.stringify(r).slice(0, 2500)); }
  }
  console.log(agg);
});
