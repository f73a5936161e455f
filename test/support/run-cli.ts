// The fhir-bridge command run in-process, as a test sees it: exit code and what it printed, without touching
// the test process's own exit code.
import { memoryIo } from '../../src/cli/io.js';
import { buildProgram } from '../../src/cli/main.js';

export async function runCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo();
  const program = await buildProgram({ io: () => io });
  program.exitOverride();
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'fhir-bridge', ...args]);
    return { code: Number(process.exitCode ?? 0), out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  } finally {
    process.exitCode = before;
  }
}
