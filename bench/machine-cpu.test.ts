import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { busyMsOfProcStat, databaseMsOf, machineUse, parsePidStat, sampleMachine, type ProcessTimes } from './machine-cpu.js';

describe('machine CPU for the bench', () => {
  it('counts user, nice, system, irq and softirq of /proc/stat as busy, not idle, iowait or steal', () => {
    expect(busyMsOfProcStat('cpu  100 5 20 9000 300 1 2 700 0 0\ncpu0 50 2 10 4500 150 0 1 350 0 0\n')).toBe((100 + 5 + 20 + 1 + 2) * 10);
    expect(() => busyMsOfProcStat('intr 1 2 3')).toThrow(/cpu line/);
  });

  it('reads a process line whose command name holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => i + 3);
    fields[4 - 3] = 77; // ppid
    fields[14 - 3] = 30; // utime
    fields[15 - 3] = 12; // stime
    fields[16 - 3] = 400; // cutime
    fields[17 - 3] = 100; // cstime
    const p = parsePidStat(`1234 (odd) name) S ${fields.slice(1).join(' ')}\n`);
    expect(p).toEqual({ pid: 1234, ppid: 77, comm: 'odd) name', ownMs: 420, childrenMs: 5000 });
  });

  it("adds the database's live processes and what its topmost process counts for backends that ended", () => {
    const p = (pid: number, ppid: number, comm: string, ownMs: number, childrenMs: number): ProcessTimes => ({
      pid,
      ppid,
      comm,
      ownMs,
      childrenMs,
    });
    const processes = [
      p(1, 0, 'init', 5, 99_000),
      p(10, 1, 'postgres', 100, 2_000), // postmaster: its children that ended count
      p(11, 10, 'postgres', 300, 50), // a backend: its own time only (its children are its own business)
      p(12, 10, 'postgres', 40, 0),
      p(20, 1, 'node', 9_000, 0),
    ];
    expect(databaseMsOf(processes)).toBe(100 + 2_000 + 300 + 40);
  });

  it.runIf(process.platform === 'linux')('sees the CPU a busy child process spends as machine time', async () => {
    const before = await sampleMachine();
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);']);
    await once(child, 'exit');
    const use = machineUse(before, await sampleMachine());
    expect(use).toBeDefined();
    // the child kept one core busy for most of the span (ticks are 10 ms, the span includes its start)
    expect(use!.busyCores).toBeGreaterThan(0.3);
    expect(use!.databaseSeconds).toBeGreaterThanOrEqual(0);
  });
});
