// The schedule for trying something that is starting (a port, a probe): often at first, when most things
// come up, then less and less. A leaf with no imports: msup's probes and the sidecar both use it. Pure.

export interface StartupSchedule {
  /** The delay while the thing is young. */
  fastMs: number;
  /** For how long after the first try it is tried every `fastMs`. */
  fastForMs: number;
  /** The longest delay once the delays double. */
  maxMs: number;
}

/** The delay before the next try, `sinceStartMs` after the first: `fastMs` while young, then doubling. */
export function startupDelay(schedule: StartupSchedule, sinceStartMs: number, previousMs: number): number {
  if (sinceStartMs < schedule.fastForMs) return schedule.fastMs;
  return Math.min(previousMs * 2, schedule.maxMs);
}
