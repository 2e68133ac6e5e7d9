// The work in flight on each member (requests, upgraded and TCP connections), each registered with
// the function that cuts it, so a drain can wait for a member's work to end or cut what is left.

export class Work {
  readonly #work = new Map<string, Set<() => void>>();
  readonly #drains = new Map<string, Set<() => void>>();

  /** Registers work on `key`; returns the function that ends it. */
  track(key: string, destroy: () => void): () => void {
    const set = this.#work.get(key) ?? new Set<() => void>();
    this.#work.set(key, set);
    set.add(destroy);
    return () => {
      set.delete(destroy);
      if (set.size > 0) return;
      this.#work.delete(key);
      const drains = this.#drains.get(key);
      if (drains) for (const done of [...drains]) done();
    };
  }

  /** Resolves once `key` has no work left, or after `timeoutMs`, when what is left is cut. */
  drain(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#work.get(key)?.size) {
        resolve();
        return;
      }
      const drains = this.#drains.get(key) ?? new Set<() => void>();
      this.#drains.set(key, drains);
      const done = () => {
        clearTimeout(timer);
        drains.delete(done);
        if (drains.size === 0) this.#drains.delete(key);
        resolve();
      };
      const timer = setTimeout(() => {
        for (const destroy of [...(this.#work.get(key) ?? [])]) destroy();
        done();
      }, timeoutMs);
      drains.add(done);
    });
  }

  /** Cuts every piece of work on `key`. */
  cut(key: string): void {
    for (const destroy of [...(this.#work.get(key) ?? [])]) destroy();
  }

  /** Cuts every piece of work, on every member. */
  cutAll(): void {
    for (const work of [...this.#work.values()]) for (const destroy of [...work]) destroy();
  }
}
