import { describe, expect, it } from 'vitest';
import { memoryIo } from './io.js';
import { UsageError } from './options.js';
import { runCommand } from './run-command.js';

describe('runCommand', () => {
  it("returns the body's exit code", async () => {
    expect(await runCommand(memoryIo(), async () => 3)).toBe(3);
  });

  it('reports a failure and exits 1, or 130 when the command was cancelled', async () => {
    const io = memoryIo();
    expect(await runCommand(io, async () => Promise.reject(new UsageError('--limit "x": expected a whole number ≥ 1')))).toBe(1);
    expect(io.stderr).toEqual(['error: --limit "x": expected a whole number ≥ 1']);
    const cancelled = memoryIo();
    expect(await runCommand(cancelled, async () => Promise.reject(Object.assign(new Error('cancelled'), { name: 'AbortError' })))).toBe(
      130,
    );
    expect(cancelled.stderr).toEqual(['cancelled']);
  });

  it('closes the sources the command opened, also when it fails', { timeout: 30_000 }, async () => {
    const closed: string[] = [];
    const code = await runCommand(memoryIo(), async (scope) => {
      const source = await scope.openSource();
      const close = source.close.bind(source);
      source.close = async () => {
        closed.push(source.config.name);
        await close();
      };
      throw new UsageError('after opening');
    });
    expect(code).toBe(1);
    expect(closed).toEqual(['synthea-sqlite']);
  });
});
