// What the whole machine, and a database server on it, spent while a measurement ran. A process' own CPU/wall
// cannot tell "this export leaves a core idle" from "the database took the other core": on the 2-core bench
// machine both happen. Linux only (/proc); elsewhere the table shows – and the ratio line n/a.
import { readdir, readFile } from 'node:fs/promises';

/** Linux reports /proc times in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const TICK_MS = 10;

/** Processes of the database servers the bench reads (their `comm`). */
const DATABASE_PROCESSES = new Set(['postgres', 'mariadbd', 'mysqld']);

export interface MachineSample {
  atMs: number;
  /** CPU time of every core that was not idle (user, nice, system, irq, softirq), in ms */
  busyMs: number;
  /** CPU time of the database server's processes, including those that ended (counted by their parent), in ms */
  databaseMs: number;
}

export interface MachineUse {
  /** cores the whole machine kept busy on average over the span */
  busyCores: number;
  /** CPU seconds the database server spent over the span */
  databaseSeconds: number;
}

/** Busy time from the first line of /proc/stat: `cpu  user nice system idle iowait irq softirq steal …`. */
export function busyMsOfProcStat(text: string): number {
  const line = text.split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu' || f.length < 8) throw new Error(`not a /proc/stat cpu line: ${line}`);
  const n = f.slice(1).map(Number);
  return (n[0]! + n[1]! + n[2]! + n[5]! + n[6]!) * TICK_MS;
}

export interface ProcessTimes {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, ms */
  ownMs: number;
  /** cutime + cstime: children that ended and were waited for, ms */
  childrenMs: number;
}

/** One /proc/<pid>/stat line; the command name is in parentheses and may itself hold spaces or ')'. */
export function parsePidStat(text: string): ProcessTimes {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  // fields after the name, from field 3 (state): ppid is field 4, utime..cstime fields 14..17
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const at = (field: number): number => Number(f[field - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    ppid: at(4),
    comm: text.slice(open + 1, close),
    ownMs: (at(14) + at(15)) * TICK_MS,
    childrenMs: (at(16) + at(17)) * TICK_MS,
  };
}

/**
 * The database server's CPU so far: every live server process' own time, plus what its topmost process
 * (postmaster, mariadbd) counts for children that ended, so backends that exit between two samples still count.
 */
export function databaseMsOf(processes: ProcessTimes[]): number {
  const db = processes.filter((p) => DATABASE_PROCESSES.has(p.comm));
  const pids = new Set(db.map((p) => p.pid));
  return db.reduce((ms, p) => ms + p.ownMs + (pids.has(p.ppid) ? 0 : p.childrenMs), 0);
}

export async function sampleMachine(): Promise<MachineSample | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const atMs = performance.now();
    const busyMs = busyMsOfProcStat(await readFile('/proc/stat', 'utf8'));
    const processes: ProcessTimes[] = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      // a process may end between the listing and the read
      const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
      if (text) processes.push(parsePidStat(text));
    }
    return { atMs, busyMs, databaseMs: databaseMsOf(processes) };
  } catch {
    return undefined;
  }
}

export function machineUse(before: MachineSample | undefined, after: MachineSample | undefined): MachineUse | undefined {
  if (!before || !after || after.atMs <= before.atMs) return undefined;
  return {
    busyCores: (after.busyMs - before.busyMs) / (after.atMs - before.atMs),
    databaseSeconds: (after.databaseMs - before.databaseMs) / 1000,
  };
}
