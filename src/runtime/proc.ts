// What the OS knows about processes and process groups: /proc on Linux, signal 0 elsewhere. A scan reads
// one file at a time and other reads a bounded number at once, and concurrent waits share one scan, so
// stopping a thousand instances does not run msup out of descriptors.
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const HAS_PROC = process.platform === 'linux';
/** Files of /proc read at the same time, at most. */
const READ_CONCURRENCY = 32;
const TICK_MS = 10; // USER_HZ is 100 on Linux
const PAGE_BYTES = 4096;

export interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  pgrp: number;
  startTime: string;
  /** User + system CPU time, in milliseconds. */
  cpuMs: number;
  /** User + system CPU time of its children that ended and were waited for, in milliseconds. */
  childrenCpuMs: number;
  rssBytes: number;
}

function parseStat(pid: number, text: string): ProcStat {
  // The command name is in parentheses and may contain spaces: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    startTime: fields[19] ?? '',
    cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
    childrenCpuMs: (Number(fields[13]) + Number(fields[14])) * TICK_MS,
    rssBytes: Number(fields[21]) * PAGE_BYTES,
  };
}

/** /proc/<pid>/stat is one line of a few hundred bytes (a command name has at most 15 characters). */
const statBuffer = Buffer.allocUnsafe(4096);
/** Processes a scan reads between two turns of the event loop (one read: open, read, close). */
const SCAN_BATCH = 128;

/** Errors that say msup is short of something, not that the process is gone: a read that says nothing. */
const SHORTAGE = new Set(['EMFILE', 'ENFILE', 'ENOMEM']);

const isShortage = (error: unknown) => SHORTAGE.has((error as NodeJS.ErrnoException).code ?? '');

/**
 * One process's stat, read at once into a buffer kept for it (undefined: it is gone, or not readable).
 * Not fs/promises: its four trips to the thread pool and a 64 KiB buffer per file (a /proc file says it
 * has no size) made a scan of 90 processes cost about 4 ms of CPU and most of the garbage of a function's
 * cold start (a CPU profile). Throws when msup is out of descriptors (SHORTAGE): that says nothing.
 */
function readStatNow(pid: number): ProcStat | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/stat`, 'r');
    const size = readSync(fd, statBuffer, 0, statBuffer.length, null);
    return parseStat(pid, statBuffer.toString('latin1', 0, size));
  } catch (error) {
    if (isShortage(error)) throw error;
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

interface Scan {
  stats: ProcStat[];
  /** False when some of /proc could not be read for a shortage of msup's own (out of descriptors). */
  complete: boolean;
}

/** Every live (non-zombie) process, read one at a time, letting the event loop turn every SCAN_BATCH. */
async function scan(): Promise<Scan> {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return { stats: [], complete: false };
  }
  const stats: ProcStat[] = [];
  let complete = true;
  let read = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readStatNow(Number(entry));
      if (stat && stat.state !== 'Z') stats.push(stat);
    } catch {
      complete = false;
    }
    if (++read % SCAN_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return { stats, complete };
}

/** Every live (non-zombie) process that could be read. */
export async function scanProcesses(): Promise<ProcStat[]> {
  return (await scan()).stats;
}

/** A token that identifies this process incarnation (so a reused pid is not mistaken for it). */
export async function processStartTime(pid: number): Promise<string | null> {
  if (!HAS_PROC) return isAlive(pid) ? 'unknown' : null;
  let stat: ProcStat | undefined;
  try {
    stat = readStatNow(pid);
  } catch {
    return null;
  }
  return stat && stat.state !== 'Z' ? stat.startTime : null;
}

/** Signal 0 (EPERM: it exists, not ours). A group as -pgid: any member, zombies included. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A GroupWaiter's polls between two scans of /proc. */
const SCAN_EVERY = 4;

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
  return (await scanProcesses()).filter((s) => s.pgrp === pgid).map((s) => s.pid);
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

/**
 * Waits for process groups to empty. Every wait under way shares the polls (and their scans of /proc),
 * however many groups are being stopped at once.
 */
export class GroupWaiter {
  readonly #waiting = new Map<number, Set<() => void>>();
  #polling = false;
  readonly #pollMs: number;

  constructor(pollMs = 25) {
    this.#pollMs = pollMs;
  }

  /** True once the group has no live member, false when `timeoutMs` passed first. */
  async wait(pgid: number, timeoutMs: number): Promise<boolean> {
    if (!HAS_PROC) return waitWithoutProc(pgid, timeoutMs, this.#pollMs);
    let settle: () => void = () => {};
    const emptied = new Promise<boolean>((resolve) => {
      settle = () => resolve(true);
    });
    const set = this.#waiting.get(pgid) ?? new Set<() => void>();
    set.add(settle);
    this.#waiting.set(pgid, set);
    this.#poll();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const result = await Promise.race([emptied, expired]);
    clearTimeout(timer);
    set.delete(settle);
    if (set.size === 0 && this.#waiting.get(pgid) === set) this.#waiting.delete(pgid);
    return result;
  }

  #settle(pgid: number): void {
    const settles = this.#waiting.get(pgid);
    this.#waiting.delete(pgid);
    for (const settle of settles ?? []) settle();
  }

  /**
   * Each poll asks the kernel first (signal 0 to the group: no such group, it is gone); a scan of /proc,
   * which also finds a group whose members are all zombies (an orphan nobody reaps, in a container without
   * an init), runs only every SCAN_EVERY polls: most groups are gone before the first one.
   */
  #poll(): void {
    if (this.#polling) return;
    this.#polling = true;
    void (async () => {
      try {
        for (let round = 1; this.#waiting.size > 0; round++) {
          for (const pgid of [...this.#waiting.keys()]) if (!isAlive(-pgid)) this.#settle(pgid);
          if (this.#waiting.size > 0 && round % SCAN_EVERY === 0) {
            // A scan cut short by a shortage of descriptors would miss live groups: only a whole one counts.
            const { stats, complete } = await scan();
            const alive = new Set(stats.map((s) => s.pgrp));
            if (complete)
              for (const pgid of [...this.#waiting.keys()]) if (!alive.has(pgid)) this.#settle(pgid);
          }
          if (this.#waiting.size > 0) await sleep(this.#pollMs);
        }
      } finally {
        this.#polling = false;
      }
    })();
  }
}

async function waitWithoutProc(pgid: number, timeoutMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await groupMembers(pgid)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/** Poll until the group has no live member or the time is up; true when it is empty. */
export function waitForGroupExit(pgid: number, timeoutMs: number, pollMs = 25): Promise<boolean> {
  return new GroupWaiter(pollMs).wait(pgid, timeoutMs);
}

export interface GroupUsage {
  /** CPU time used by the group's live processes, in milliseconds. */
  cpuMs: number;
  /** Resident memory of the group's live processes, in bytes. */
  rssBytes: number;
}

/** CPU and memory of each process group (Linux); groups not found are missing from the map. */
export async function groupUsage(pgids: readonly number[]): Promise<Map<number, GroupUsage>> {
  const usage = new Map<number, GroupUsage>();
  if (!HAS_PROC || pgids.length === 0) return usage;
  const wanted = new Set(pgids);
  for (const stat of await scanProcesses()) {
    if (!wanted.has(stat.pgrp)) continue;
    const total = usage.get(stat.pgrp) ?? { cpuMs: 0, rssBytes: 0 };
    usage.set(stat.pgrp, { cpuMs: total.cpuMs + stat.cpuMs, rssBytes: total.rssBytes + stat.rssBytes });
  }
  return usage;
}

/** CPU and memory of each process tree (a root pid and all its descendants), e.g. a container's processes. */
export async function treeUsage(roots: readonly number[]): Promise<Map<number, GroupUsage>> {
  const usage = new Map<number, GroupUsage>();
  if (!HAS_PROC || roots.length === 0) return usage;
  const stats = await scanProcesses();
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  for (const root of roots) {
    const top = byPid.get(root);
    if (!top) continue;
    const total = { cpuMs: 0, rssBytes: 0 };
    const queue = [top];
    for (let stat = queue.pop(); stat; stat = queue.pop()) {
      total.cpuMs += stat.cpuMs;
      total.rssBytes += stat.rssBytes;
      queue.push(...(children.get(stat.pid) ?? []));
    }
    usage.set(root, total);
  }
  return usage;
}

/** The variable that marks every process an instance starts, even one that leaves its process group. */
export const GUARD_VARIABLE = 'MSUP_GUARD';

interface EscapeQuery {
  token: string;
  sinceTicks: number;
  pgid: number;
  resolve: (found: { pid: number; command: string }[]) => void;
}

let queuedQueries: EscapeQuery[] = [];
let sweeping = false;

/**
 * Live processes that carry `GUARD_VARIABLE=token` in their environment but are no longer in the group
 * `pgid` (daemons that called setsid): those started since `sinceTicks` (the group leader's start time;
 * a descendant cannot be older). Linux only. Queries made while a sweep runs share the next one: a
 * thousand instances stopping at once read /proc once or twice, not a thousand times.
 */
export function escapedProcesses(
  token: string,
  sinceTicks: number,
  pgid: number,
): Promise<{ pid: number; command: string }[]> {
  if (!HAS_PROC) return Promise.resolve([]);
  return new Promise((resolve) => {
    queuedQueries.push({ token, sinceTicks, pgid, resolve });
    if (!sweeping) void sweepQueries();
  });
}

async function sweepQueries(): Promise<void> {
  sweeping = true;
  while (queuedQueries.length > 0) {
    const batch = queuedQueries;
    queuedQueries = [];
    const found = await sweep(batch).catch(() => new Map<EscapeQuery, { pid: number; command: string }[]>());
    for (const query of batch) query.resolve(found.get(query) ?? []);
  }
  // Cleared in the same synchronous step as the last check: a query pushed later starts a new sweep.
  sweeping = false;
}

/** The processes of `pids` that carry `token` as their guard (read from /proc/<pid>/environ). */
export async function carryingGuard(pids: readonly number[], token: string): Promise<number[]> {
  if (!HAS_PROC) return [];
  const ours = await Promise.all(
    pids.map(async (pid) => {
      try {
        return guardOf(await readFile(`/proc/${pid}/environ`, 'latin1')) === token;
      } catch {
        return false; // gone meanwhile, or not ours to read
      }
    }),
  );
  return pids.filter((_, i) => ours[i]);
}

function guardOf(environ: string): string | undefined {
  const key = `${GUARD_VARIABLE}=`;
  let at = 0;
  if (!environ.startsWith(key)) {
    at = environ.indexOf(`\0${key}`) + 1;
    if (at === 0) return undefined;
  }
  const from = at + key.length;
  const to = environ.indexOf('\0', from);
  return environ.slice(from, to < 0 ? undefined : to);
}

async function sweep(batch: EscapeQuery[]): Promise<Map<EscapeQuery, { pid: number; command: string }[]>> {
  const byToken = new Map<string, EscapeQuery[]>();
  for (const query of batch) byToken.set(query.token, [...(byToken.get(query.token) ?? []), query]);
  const oldest = Math.min(...batch.map((q) => q.sinceTicks));
  const candidates = (await scanProcesses()).filter(
    (s) => s.pid !== process.pid && Number(s.startTime) >= oldest,
  );
  const found = new Map<EscapeQuery, { pid: number; command: string }[]>();
  let next = 0;
  const worker = async () => {
    while (next < candidates.length) {
      const stat = candidates[next++] as ProcStat;
      try {
        const token = guardOf(await readFile(`/proc/${stat.pid}/environ`, 'latin1'));
        const queries = (token === undefined ? undefined : byToken.get(token))?.filter(
          (q) => stat.pgrp !== q.pgid && Number(stat.startTime) >= q.sinceTicks,
        );
        if (!queries?.length) continue;
        const command = (await readFile(`/proc/${stat.pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
        for (const q of queries) found.set(q, [...(found.get(q) ?? []), { pid: stat.pid, command }]);
      } catch {
        // gone meanwhile, or not ours to read
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, candidates.length) }, worker));
  return found;
}

/** Ends processes by pid: SIGCONT and SIGTERM, then SIGKILL to those still there after `graceMs`. */
export async function endProcesses(pids: readonly number[], graceMs: number): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {}
    }
  };
  signal('SIGCONT');
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(25);
  signal('SIGKILL');
}

/** The machine's CPU time since boot, in ticks of all CPUs together: busy (steal included) and the total. */
export interface MachineCpu {
  busyTicks: number;
  totalTicks: number;
}

/**
 * The first line of /proc/stat as busy and total ticks (busy: all but idle and iowait; steal, the time a
 * virtual machine's host gave its CPUs to others, counts as busy). Null where there is no /proc. Pure.
 */
export function parseMachineCpu(text: string): MachineCpu | null {
  const line = text.split('\n', 1)[0] ?? '';
  if (!line.startsWith('cpu ')) return null;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user/nice.
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busyTicks = user + nice + system + irq + softirq + steal;
  return { busyTicks, totalTicks: busyTicks + idle + iowait };
}

/** The machine's CPU time so far (/proc/stat); null where there is no /proc. */
export async function machineCpu(): Promise<MachineCpu | null> {
  if (!HAS_PROC) return null;
  try {
    return parseMachineCpu(await readFile('/proc/stat', 'latin1'));
  } catch {
    return null;
  }
}
