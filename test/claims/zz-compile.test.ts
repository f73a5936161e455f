import { it } from 'vitest';
import { loadMappingSet } from '../../src/mapping/index.js';
it('compiles', async () => {
  try {
    const set = await loadMappingSet(['mappings/synthea', 'mappings/synthea-claims']);
    console.log(set.mappings.map((m) => m.name).join(' '));
  } catch (e) {
    console.log(String((e as Error).message).slice(0, 5000));
  }
});
