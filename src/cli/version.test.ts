import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './main.js';

describe('fhir-bridge --version', () => {
  it('prints the version of package.json and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const program = await buildProgram();
    const written: string[] = [];
    program.exitOverride().configureOutput({ writeOut: (text) => void written.push(text) });
    await expect(program.parseAsync(['node', 'fhir-bridge', '--version'])).rejects.toMatchObject({
      code: 'commander.version',
      exitCode: 0,
    });
    expect(written.join('')).toBe(`${version}\n`);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
