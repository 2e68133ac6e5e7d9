// What the OS knows about processes and process groups: /proc on Linux, signal 0 elsewhere.
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const HAS_PROC = process.platform === 'linux';

interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
  startTime: string;
}

async function readStat(pid: number | string): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pid: Number(pid),
      state: fields[0] ?? '?',
      pgrp: Number(fields[2]),
      startTime: fields[19] ?? '',
    };
  } catch {
    return undefined;
  }
}

/** A token that identifies this process incarnation (so a reused pid is not mistaken for it). */
export async function processStartTime(pid: number): Promise<string | null> {
  if (!HAS_PROC) return isAlive(pid) ? 'unknown' : null;
  const stat = await readStat(pid);
  return stat && stat.state !== 'Z' ? stat.startTime : null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live (non-zombie) members of a process group. */
export async function groupMembers(pgid: number): Promise<number[]> {
  if (!HAS_PROC) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const stats = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => readStat(e)));
  return stats.filter((s) => s && s.pgrp === pgid && s.state !== 'Z').map((s) => (s as ProcStat).pid);
}

/** Send a signal to a whole process group; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Poll until the group has no live member or the time is up; true when it is empty. */
export async function waitForGroupExit(pgid: number, timeoutMs: number, pollMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await groupMembers(pgid)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

export interface GroupUsage {
  /** CPU time used by the group's live processes, in milliseconds. */
  cpuMs: number;
  /** Resident memory of the group's live processes, in bytes. */
  rssBytes: number;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux
const PAGE_BYTES = 4096;

/** CPU and memory of each process group (Linux); groups not found are missing from the map. */
export async function groupUsage(pgids: readonly number[]): Promise<Map<number, GroupUsage>> {
  const usage = new Map<number, GroupUsage>();
  if (!HAS_PROC || pgids.length === 0) return usage;
  const wanted = new Set(pgids);
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          const text = await readFile(`/proc/${pid}/stat`, 'utf8');
          const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
          const pgrp = Number(fields[2]);
          if (!wanted.has(pgrp) || fields[0] === 'Z') return;
          const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
          const rssBytes = Number(fields[21]) * PAGE_BYTES;
          const total = usage.get(pgrp) ?? { cpuMs: 0, rssBytes: 0 };
          usage.set(pgrp, { cpuMs: total.cpuMs + cpuMs, rssBytes: total.rssBytes + rssBytes });
        } catch {
          // gone meanwhile
        }
      }),
  );
  return usage;
}
