// Everything a runtime runs, as one figure: the resident memory and CPU time of msup's own process tree
// (the apps, podman's API service, the function environments) and of each instance's tree outside it (a
// container's processes and its conmon), each process counted once; the load generator left out.
import { type ProcStat, scanProcesses } from '../runtime/proc.js';

export interface Footprint {
  rssBytes: number;
  /** CPU time of the live processes, plus what msup's ended children used (they were waited for). */
  cpuMs: number;
  processes: number;
  /** The live processes counted, each once. */
  own: ProcStat[];
  /** CPU time of msup's children that ended and were waited for, in milliseconds. */
  childrenCpuMs: number;
}

/** The processes below the roots (roots included), not below any of `exclude`. Pure. */
export function treeUnion(
  stats: readonly ProcStat[],
  roots: readonly number[],
  exclude: readonly number[],
): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const skip = new Set(exclude);
  const seen = new Map<number, ProcStat>();
  const queue = roots.map((pid) => byPid.get(pid)).filter((s): s is ProcStat => s !== undefined);
  for (let stat = queue.pop(); stat; stat = queue.pop()) {
    if (seen.has(stat.pid) || skip.has(stat.pid)) continue;
    seen.set(stat.pid, stat);
    queue.push(...(children.get(stat.pid) ?? []));
  }
  return [...seen.values()];
}

/**
 * The footprint of msup (this process) and of the instances whose host pids are given. An instance that
 * is not msup's descendant brings its parent too (a container's conmon), unless that is pid 1.
 */
export async function footprint(
  instancePids: readonly number[],
  exclude: readonly number[],
): Promise<Footprint> {
  const stats = await scanProcesses();
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const roots = [process.pid];
  for (const pid of instancePids) {
    roots.push(pid);
    const parent = byPid.get(pid)?.ppid;
    if (parent !== undefined && parent > 1) roots.push(parent);
  }
  // A parent that is an ancestor of msup (a shell, a test runner) is not the runtime's: keep it out.
  const ancestors: number[] = [];
  for (let p = byPid.get(process.pid)?.ppid; p !== undefined && p > 1; p = byPid.get(p)?.ppid)
    ancestors.push(p);
  const own = treeUnion(
    stats,
    roots.filter((r) => !ancestors.includes(r)),
    exclude,
  );
  const self = byPid.get(process.pid);
  return {
    rssBytes: own.reduce((sum, s) => sum + s.rssBytes, 0),
    cpuMs: own.reduce((sum, s) => sum + s.cpuMs, 0) + (self?.childrenCpuMs ?? 0),
    processes: own.length,
    own,
    childrenCpuMs: self?.childrenCpuMs ?? 0,
  };
}
