import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { connectorWith, exportConnector } from './export-helper.js';
it('dump', async () => {
  const { file, cleanup } = await connectorWith('connectors/synthea-csv.yaml', {}, ['/work/main/mappings/synthea-claims']);
  const r = await exportConnector(file);
  await cleanup();
  writeFileSync('/tmp/dump-syn.json', JSON.stringify({ resources: r.resources.filter((x) => ['ExplanationOfBenefit', 'Claim', 'Coverage', 'Organization'].includes(x.resourceType)), outcomes: r.outcomes, summary: r.summary }, null, 1));
}, 120000);
