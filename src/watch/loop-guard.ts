// Detects a restart loop: a service that writes into its own watched tree restarts itself forever. Pure.

export interface LoopGuardOptions {
  /** Change-triggered restarts allowed inside the window (default 5); one more is a loop. */
  maxRestarts?: number;
  /** The sliding window, in milliseconds (default 10 000). */
  windowMs?: number;
}

export type LoopVerdict = 'ok' | 'loop';

export const LOOP_GUARD_DEFAULTS = { maxRestarts: 5, windowMs: 10_000 } as const;

/**
 * Counts change-triggered restarts in a sliding window. `record(now)` for each restart the watcher
 * asks for: 'loop' once more than `maxRestarts` fall inside the last `windowMs` (the caller then
 * pauses watching for that service and reports it), and again on every further record until enough
 * time has passed or `reset()` is called (e.g. when the user resumes watching).
 */
export class LoopGuard {
  readonly maxRestarts: number;
  readonly windowMs: number;
  #times: number[] = [];

  constructor(options: LoopGuardOptions = {}) {
    this.maxRestarts = options.maxRestarts ?? LOOP_GUARD_DEFAULTS.maxRestarts;
    this.windowMs = options.windowMs ?? LOOP_GUARD_DEFAULTS.windowMs;
  }

  /** Records one change-triggered restart at `now` (epoch ms) and says whether it completes a loop. */
  record(now: number): LoopVerdict {
    this.#forget(now);
    this.#times.push(now);
    return this.#times.length > this.maxRestarts ? 'loop' : 'ok';
  }

  /** Restarts counted inside the window ending at `now`. */
  count(now: number): number {
    this.#forget(now);
    return this.#times.length;
  }

  /** Forgets every recorded restart. */
  reset(): void {
    this.#times = [];
  }

  #forget(now: number): void {
    const since = now - this.windowMs;
    let drop = 0;
    while (drop < this.#times.length && (this.#times[drop] as number) <= since) drop++;
    if (drop > 0) this.#times.splice(0, drop);
  }
}
