// docker/images.json pins one image per server dialect (keyed as each descriptor's testDatabase.image says),
// and docker/compose.yaml runs the same ones under the same names.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { expect, it } from 'vitest';
import { dialect } from '../../src/connectors/registry.js';
import { imagePins, serverDialects, type TestDatabaseKind } from './databases.js';

it('docker/compose.yaml uses the image pins of docker/images.json', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const compose = parse(readFileSync(path.join(root, 'docker', 'compose.yaml'), 'utf8')) as { services: Record<string, { image: string }> };
  const pins = imagePins();
  expect(Object.keys(pins).sort()).toEqual(['mssql', 'mysql', 'oracle', 'postgres']);
  for (const kind of serverDialects()) {
    const service = dialect(kind).testDatabase!.image;
    expect(compose.services[service]?.image, service).toBe(pins[kind as TestDatabaseKind]);
  }
  for (const image of Object.values(pins)) expect(image).toMatch(/:[\w.-]+$/);
});
