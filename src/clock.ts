// Time passed in where semantics depend on it (the function runtime's idle reaping, timeouts, the init cap and
// durations; how often a redrawn output line is passed on), so tests drive it with a manual clock instead of
// sleeping. A leaf: it imports nothing of msup.

export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

export interface Clock {
  /** Monotonic milliseconds (durations). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle | undefined): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** Real time whose timers do not keep the process up (msup's own exit is never held by them). */
export const unrefClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};
