// Ends an exec probe's command inside a container when the probe runs out of time. Killing the engine's
// client (`podman exec`) leaves the command running in the container until it stops: a probe that hangs,
// run every period, piles up processes there. From the host, the exec'd process is in the container's pid
// namespace (that of its init, whose host pid the runtime knows), its parent is outside it (the exec's
// conmon, containerd's shim), and it started after the exec began: it and what it started are SIGKILLed.
// The choice is pure (execTargets); reading /proc and killing are apart.
import { readFileSync, readlinkSync } from 'node:fs';
import { scanProcesses } from '../proc.js';

/** One process of the container's pid namespace, as seen from the host. */
export interface NsProcess {
  pid: number;
  ppid: number;
  pgrp: number;
  /** Clock ticks after boot (field 22 of /proc/PID/stat). */
  startTicks: number;
  /** Its argv (/proc/PID/cmdline). */
  argv: readonly string[];
  /** Its pid inside the container (the last of NSpid in /proc/PID/status), or null. */
  nsPid: number | null;
}

/** The last pid of `NSpid:` in a /proc/PID/status text: the pid in the innermost namespace. */
export function innermostPid(status: string): number | null {
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim();
  const last = line?.split(/\s+/).at(-1);
  return last !== undefined && /^\d+$/.test(last) ? Number(last) : null;
}

/** The clock ticks since boot of a /proc/uptime text (`12345.67 ...`; USER_HZ is 100), or null. */
export function uptimeTicks(text: string): number | null {
  const match = /^(\d+)(?:\.(\d{1,2}))?/.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? '0').padEnd(2, '0'));
}

/**
 * The processes to kill for an exec of `argv` begun at `sinceTicks`, among every process of the
 * container's pid namespace (`inNs`, its init `initPid` included): the exec'd ones (parent outside the
 * namespace, not the init, started since), those whose argv is `argv` when some are (another exec under
 * way is spared), else the only one (a shell that exec'd its command has another argv); then everything
 * below them. Empty when nothing can be told.
 */
export function execTargets(
  inNs: readonly NsProcess[],
  initPid: number,
  argv: readonly string[],
  sinceTicks: number,
): NsProcess[] {
  const pids = new Set(inNs.map((p) => p.pid));
  const execd = inNs.filter((p) => p.pid !== initPid && !pids.has(p.ppid) && p.startTicks >= sinceTicks);
  const same = execd.filter((p) => p.argv.length === argv.length && p.argv.every((a, i) => a === argv[i]));
  const roots = same.length > 0 ? same : execd.length === 1 ? execd : [];
  const chosen = new Map(roots.map((p) => [p.pid, p]));
  // Below them: a process whose parent was chosen, until none is added.
  for (let added = true; added; ) {
    added = false;
    for (const p of inNs) {
      if (!chosen.has(p.pid) && chosen.has(p.ppid)) {
        chosen.set(p.pid, p);
        added = true;
      }
    }
  }
  return [...chosen.values()];
}

const readText = (file: string): string | null => {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return null;
  }
};

/** The clock ticks since boot now, or null (no /proc). */
export function ticksNow(): number | null {
  const text = readText('/proc/uptime');
  return text === null ? null : uptimeTicks(text);
}

/** Every process in the pid namespace of `initPid` that msup may look at (none without /proc). */
async function namespaceProcesses(initPid: number): Promise<NsProcess[]> {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const found: NsProcess[] = [];
  for (const stat of await scanProcesses()) {
    try {
      if (readlinkSync(`/proc/${stat.pid}/ns/pid`) !== ns) continue;
    } catch {
      continue; // gone, or not msup's to look at
    }
    const cmdline = readText(`/proc/${stat.pid}/cmdline`) ?? '';
    found.push({
      pid: stat.pid,
      ppid: stat.ppid,
      pgrp: stat.pgrp,
      startTicks: Number(stat.startTime),
      argv: cmdline.replace(/\0$/, '').split('\0'),
      nsPid: innermostPid(readText(`/proc/${stat.pid}/status`) ?? ''),
    });
  }
  return found;
}

export interface ExecKillOutcome {
  /** Host pids SIGKILLed. */
  killed: number[];
  /** Pids inside the container msup was not allowed to signal from the host (EPERM). */
  refused: number[];
}

/**
 * SIGKILLs, from the host, the command an exec of `argv` begun at `sinceTicks` started in the container
 * whose init is `initPid`, and what it started (a group it leads too). What it could not signal (EPERM)
 * is returned by its pid inside the container.
 */
export async function killExecProcesses(
  initPid: number,
  argv: readonly string[],
  sinceTicks: number,
): Promise<ExecKillOutcome> {
  const targets = execTargets(await namespaceProcesses(initPid), initPid, argv, sinceTicks);
  const outcome: ExecKillOutcome = { killed: [], refused: [] };
  for (const target of targets) {
    try {
      process.kill(target.pid, 'SIGKILL');
      outcome.killed.push(target.pid);
      if (target.pgrp === target.pid) process.kill(-target.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM' && target.nsPid !== null)
        outcome.refused.push(target.nsPid);
    }
  }
  return outcome;
}
