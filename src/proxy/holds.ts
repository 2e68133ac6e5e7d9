// Requests (and upgrades and TCP connections) held while no instance can take them, as Caddy's
// lb_try_duration: each waits until an instance joins (wake) or its deadline passes (expire).

interface Waiter {
  wake(): void;
  timer: NodeJS.Timeout;
}

export class Holds {
  readonly #waiters = new Set<Waiter>();

  /**
   * Waits for `wakeAll()` (`wake`) or for `deadline` (`expire`); returns a cancel. `expire` runs only once
   * `Date.now()` has reached the deadline: a timer counts from the event loop's cached time, so it can
   * fire a little early by the wall clock, and a caller that checked the deadline again would hold the
   * request a second time (counted twice in msup_held_total; seen on a loaded machine).
   */
  hold(deadline: number, wake: () => void, expire: () => void): () => void {
    const fire = () => {
      const left = deadline - Date.now();
      if (left > 0) {
        waiter.timer = setTimeout(fire, left);
        return;
      }
      this.#waiters.delete(waiter);
      expire();
    };
    const waiter: Waiter = { wake, timer: setTimeout(fire, Math.max(0, deadline - Date.now())) };
    this.#waiters.add(waiter);
    return () => {
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
    };
  }

  /** Requests (upgrades, connections) waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Every held request tries again now (an instance joined, or msup is closing). */
  wakeAll(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.wake();
    }
  }
}
