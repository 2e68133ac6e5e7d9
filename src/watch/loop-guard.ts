// Detects a restart loop: a service that writes into its own watched tree restarts itself forever. Pure.
//
// What tells such a loop from a person editing is that each restart brings on the next: the change that
// asks for it comes while the restart before it runs (the service writes as it starts) or just after it
// ended. A count of restarts within a fixed time alone missed slow loops (a service that takes 2.5 s to be
// ready restarts 4 times in 10 s, forever) and caught people who save often; it stays, looser, for a
// service that writes a while after it is ready.

export interface LoopGuardOptions {
  /** Change-triggered restarts in a row, each brought on by the one before, allowed (default 5); one more is a loop. */
  maxRestarts?: number;
  /** How long after a change-triggered restart ended a change still counts as brought on by it (default 250 ms). */
  windowMs?: number;
}

export type LoopVerdict = 'ok' | 'loop';

/** Why a loop was called: the rule, and the restarts and time it allows. */
export interface LoopRule {
  rule: string;
  restarts: number;
  windowMs: number;
}

export const LOOP_GUARD_DEFAULTS = { maxRestarts: 5, windowMs: 250 } as const;

/**
 * Whatever brought them on: more than this many change-triggered restarts within `windowMs` is a loop
 * (at least 3 rows' worth: `restarts` is raised to 3 × maxRestarts).
 */
export const RATE_LIMIT = { restarts: 15, windowMs: 30_000 } as const;

/**
 * Counts change-triggered restarts in a row. `record(now)` for each burst of changes that asks for a new
 * restart (not one folded into a restart already queued): 'loop' when it would be restart
 * `maxRestarts + 1` in a row (the caller then pauses watching that service and reports it, and does not
 * restart it); `ended(now)` when a restart it let through has ended, done or failed. A restart is in the
 * row when its change came while an earlier one ran or within `windowMs` after the last one ended;
 * otherwise a new row begins. Whatever the rows, more than RATE_LIMIT.restarts within RATE_LIMIT.windowMs
 * is a loop too (a service that writes into its files a while after it is ready).
 */
export class LoopGuard {
  readonly maxRestarts: number;
  readonly windowMs: number;
  /** Restarts within RATE_LIMIT.windowMs that make a loop whatever brought them on. */
  readonly rateRestarts: number;
  /** Which rule called the last loop: a row brought on by each other, or the rate. */
  rule: 'row' | 'rate' = 'row';

  /** The rule that called the last loop, in words, with its figures (for the report of it). */
  get verdict(): LoopRule {
    return this.rule === 'row'
      ? {
          rule: 'each restart brought on by the one before',
          restarts: this.maxRestarts,
          windowMs: this.windowMs,
        }
      : { rule: 'too many restarts in a while', restarts: this.rateRestarts, windowMs: RATE_LIMIT.windowMs };
  }
  #row = 0;
  #running = 0;
  #endedAt = Number.NEGATIVE_INFINITY;
  /** When the restarts let through within the last RATE_LIMIT.windowMs were asked for. */
  #times: number[] = [];

  constructor(options: LoopGuardOptions = {}) {
    this.maxRestarts = options.maxRestarts ?? LOOP_GUARD_DEFAULTS.maxRestarts;
    this.windowMs = options.windowMs ?? LOOP_GUARD_DEFAULTS.windowMs;
    this.rateRestarts = Math.max(RATE_LIMIT.restarts, 3 * this.maxRestarts);
  }

  /** A burst of changes at `now` (epoch ms) asks for a restart: whether it would complete a loop. */
  record(now: number): LoopVerdict {
    const broughtOn = this.#running > 0 || now - this.#endedAt <= this.windowMs;
    const row = broughtOn ? this.#row + 1 : 1;
    const since = now - RATE_LIMIT.windowMs;
    while ((this.#times[0] ?? Number.POSITIVE_INFINITY) <= since) this.#times.shift();
    if (row > this.maxRestarts) {
      this.rule = 'row';
      return 'loop';
    }
    if (this.#times.length >= this.rateRestarts) {
      this.rule = 'rate';
      return 'loop';
    }
    this.#row = row;
    this.#running++;
    this.#times.push(now);
    return 'ok';
  }

  /** A restart that `record` let through has ended (its replacements ready, or failed) at `now`. */
  ended(now: number): void {
    if (this.#running > 0) this.#running--;
    this.#endedAt = now;
  }

  /** Restarts in the present row. */
  get row(): number {
    return this.#row;
  }

  /** Starts over (e.g. when the user resumes watching). */
  reset(): void {
    this.#row = 0;
    this.#running = 0;
    this.#endedAt = Number.NEGATIVE_INFINITY;
    this.#times = [];
  }
}
