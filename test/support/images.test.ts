import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { expect, it } from 'vitest';
import { imagePins } from './databases.js';

it('docker/compose.yaml uses the image pins of docker/images.json', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const compose = parse(readFileSync(path.join(root, 'docker', 'compose.yaml'), 'utf8')) as { services: Record<string, { image: string }> };
  const pins = imagePins();
  expect(compose.services.postgres!.image).toBe(pins.postgres);
  expect(compose.services.mariadb!.image).toBe(pins.mysql);
  expect(compose.services.mssql!.image).toBe(pins.mssql);
  expect(compose.services.oracle!.image).toBe(pins.oracle);
  for (const image of Object.values(pins)) expect(image).toMatch(/:[\w.-]+$/);
});
