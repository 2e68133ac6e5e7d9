// How busy the machine was with work other than the compare's: the machine's CPU time over a period in
// which the runtime under test sat idle, less what the compare's own processes (msup, the runtime's
// instances, the load generator) used in it. The report's verdict on noise stands on it.
import { type MachineCpu, machineCpu } from '../runtime/proc.js';
import { footprint } from './footprint.js';

/** Over this share of the machine's CPU used by other work while the runtimes sat idle, the run was noisy. */
export const BACKGROUND_THRESHOLD = 0.1;

export interface BackgroundMark {
  machine: MachineCpu;
  /** CPU time of the compare's own processes so far, in milliseconds. */
  ownCpuMs: number;
  /** performance.now() at the mark. */
  atMs: number;
}

/**
 * The share (0–1) of the machine's CPU used by other processes between two marks: the machine's busy share
 * less the compare's own CPU time over the period's CPU time (elapsed × cores); at least 0. Null when the
 * period is empty. Pure.
 */
export function backgroundShare(from: BackgroundMark, to: BackgroundMark, cpus: number): number | null {
  const total = to.machine.totalTicks - from.machine.totalTicks;
  const elapsedMs = to.atMs - from.atMs;
  if (total <= 0 || elapsedMs <= 0 || cpus <= 0) return null;
  const busy = (to.machine.busyTicks - from.machine.busyTicks) / total;
  const own = (to.ownCpuMs - from.ownCpuMs) / (elapsedMs * cpus);
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
  return machine ? { machine, ownCpuMs: own.cpuMs, atMs: performance.now() } : null;
}
