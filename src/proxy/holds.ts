// Requests (and upgrades and TCP connections) held while no instance can take them, as Caddy's
// lb_try_duration: each waits until an instance joins (wake) or its deadline passes (expire).

interface Waiter {
  wake(): void;
  timer: NodeJS.Timeout;
}

export class Holds {
  readonly #waiters = new Set<Waiter>();

  /** Waits for `wakeAll()` (`wake`) or for `deadline` (`expire`); returns a cancel. */
  hold(deadline: number, wake: () => void, expire: () => void): () => void {
    const waiter: Waiter = {
      wake,
      timer: setTimeout(
        () => {
          this.#waiters.delete(waiter);
          expire();
        },
        Math.max(0, deadline - Date.now()),
      ),
    };
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
