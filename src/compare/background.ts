// How busy the machine was with work other than the compare's: the machine's CPU time over a period in
// which the runtime under test sat idle, less what the compare's own processes (msup, the runtime's
// instances, the load generator) used in it. The report's verdict on noise stands on it.
import { type MachineCpu, machineCpu } from '../runtime/proc.js';
import { footprint } from './footprint.js';
import { BACKGROUND_MIN_PERIOD_MS } from './stats.js';

export interface OwnProcess {
  cpuMs: number;
  ppid: number;
}

export interface BackgroundMark {
  machine: MachineCpu;
  /** The compare's own live processes, by pid and start time (a pid can be used again). */
  processes: ReadonlyMap<string, OwnProcess>;
  /** CPU time of msup's children that ended and were waited for, in milliseconds. */
  childrenCpuMs: number;
  /** msup's own pid: the parent whose ended children land in `childrenCpuMs`. */
  selfPid: number;
  /** performance.now() at the mark. */
  atMs: number;
}

/**
 * The CPU time (ms) the compare's own processes used between two marks, process by process: what each
 * live one used since the first mark (all of it for one started since), plus what msup's children that
 * ended used since (their whole time lands in `childrenCpuMs` when msup waits for them: less what they had
 * used before the first mark). A process of the compare that ended and was not msup's child (a
 * container's) takes its time in the period with it: it is counted as other work. Pure.
 */
export function ownCpuMs(from: BackgroundMark, to: BackgroundMark): number {
  let ms = to.childrenCpuMs - from.childrenCpuMs;
  for (const [key, p] of to.processes) ms += p.cpuMs - (from.processes.get(key)?.cpuMs ?? 0);
  for (const [key, p] of from.processes) {
    if (!to.processes.has(key) && p.ppid === from.selfPid) ms -= p.cpuMs;
  }
  return ms;
}

/**
 * The share (0–1) of the machine's CPU used by other processes between two marks: the machine's busy share
 * less the compare's own CPU time over the period's CPU time (elapsed × cores); at least 0. Null when the
 * period is shorter than BACKGROUND_MIN_PERIOD_MS. Pure.
 */
export function backgroundShare(from: BackgroundMark, to: BackgroundMark, cpus: number): number | null {
  const total = to.machine.totalTicks - from.machine.totalTicks;
  const elapsedMs = to.atMs - from.atMs;
  if (total <= 0 || elapsedMs < BACKGROUND_MIN_PERIOD_MS || cpus <= 0) return null;
  const busy = (to.machine.busyTicks - from.machine.busyTicks) / total;
  const own = ownCpuMs(from, to) / (elapsedMs * cpus);
  return Math.max(0, busy - own);
}

/**
 * A mark now: the machine's CPU time and the compare's own (this process's tree, the load generator
 * included, and the given instances'), less the trees of `notOurs`. Null where there is no /proc.
 */
export async function markBackground(
  instancePids: readonly number[],
  notOurs: readonly number[] = [],
): Promise<BackgroundMark | null> {
  const [machine, own] = await Promise.all([machineCpu(), footprint(instancePids, notOurs)]);
  if (!machine) return null;
  return {
    machine,
    processes: new Map(own.own.map((p) => [`${p.pid}:${p.startTime}`, { cpuMs: p.cpuMs, ppid: p.ppid }])),
    childrenCpuMs: own.childrenCpuMs,
    selfPid: process.pid,
    atMs: performance.now(),
  };
}
