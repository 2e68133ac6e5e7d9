// A clock that moves only when a test says so: the function runtime's idle reaping, timeouts and init cap
// are driven with `advance` instead of sleeping.
import type { Clock, TimerHandle } from '../../src/clock.js';

export class ManualClock implements Clock {
  #now = 0;
  #next = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(timer: TimerHandle | undefined): void {
    this.#timers.delete(timer as unknown as number);
  }

  /** Moves time on by `ms`, running each timer that falls due, in order (timers they set included). */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers)
        if (entry[1].at <= until && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = until;
  }
}
