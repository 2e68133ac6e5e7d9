// How many client connections the fronts may hold at once, from msup's file-descriptor limit
// (RLIMIT_NOFILE), as nginx's worker_connections and HAProxy's maxconn bound theirs: past it a front
// refuses new connections instead of running msup out of descriptors.
import { readFileSync } from 'node:fs';

/** Assumed when the limit cannot be read (no /proc): a common default, so the budget stays modest. */
const UNKNOWN_LIMIT = 1024;

/** msup's soft limit on open files (Node raises it to the hard limit at startup), if it can be read. */
export function fdLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client connections all fronts together may hold. A quarter of the descriptors (at least 256,
 * at most half) is kept for what msup needs besides: instances' output pipes, probes, pooled
 * connections to idle instances, log files, the control socket. Each client connection may cost two
 * descriptors (its own and the one to its instance), so the rest is halved. Pure.
 */
export function connectionBudget(limit: number = UNKNOWN_LIMIT): number {
  const n = Math.min(limit, 1 << 30);
  const headroom = Math.max(Math.floor(n / 4), Math.min(256, Math.floor(n / 2)));
  return Math.max(1, Math.floor((n - headroom) / 2));
}

/** A front's share of the budget when it has no `maxConnections` of its own. Pure. */
export function defaultShare(budget: number, fronts: number): number {
  return Math.max(1, Math.floor(budget / Math.max(1, fronts)));
}

/** Calls `fn` at most once per `ms` (a burst of refused connections is one log line). */
export function atMostEvery<A extends unknown[]>(ms: number, fn: (...args: A) => void): (...args: A) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (...args: A) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    fn(...args);
  };
}
