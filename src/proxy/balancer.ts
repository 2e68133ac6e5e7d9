// Round robin over the members that are in rotation, per request. No I/O, no timers.

export interface Member {
  /** Unique per process incarnation, e.g. `web#1:4242`. */
  key: string;
}

export class RoundRobin<T extends Member> {
  #members: T[] = [];
  #cursor = 0;

  get size(): number {
    return this.#members.length;
  }

  get members(): readonly T[] {
    return this.#members;
  }

  has(key: string): boolean {
    return this.#members.some((m) => m.key === key);
  }

  add(member: T): void {
    if (!this.has(member.key)) this.#members.push(member);
  }

  remove(key: string): T | undefined {
    const at = this.#members.findIndex((m) => m.key === key);
    if (at === -1) return undefined;
    const [removed] = this.#members.splice(at, 1);
    if (at < this.#cursor) this.#cursor--;
    return removed;
  }

  /** The next member in turn, skipping the keys in `exclude` (members already tried for this request). */
  next(exclude?: ReadonlySet<string>): T | undefined {
    const count = this.#members.length;
    for (let step = 0; step < count; step++) {
      const at = (this.#cursor + step) % count;
      const member = this.#members[at] as T;
      if (exclude?.has(member.key)) continue;
      this.#cursor = (at + 1) % count;
      return member;
    }
    return undefined;
  }
}
