// Each service's current mesh certificate, renewed at half its lifetime on a timer while the service has
// sidecars: every sidecar of the service gets the new one, and swaps it in without dropping a request.
import type { Issued, MeshCa } from './ca.js';

interface Entry {
  lifetimeMs: number;
  current: Promise<Issued>;
  timer: NodeJS.Timeout | undefined;
  listeners: Set<(issued: Issued) => void>;
}

export class Identities {
  readonly #ca: MeshCa;
  readonly #onError: (service: string, error: Error) => void;
  readonly #entries = new Map<string, Entry>();

  constructor(ca: MeshCa, onError: (service: string, error: Error) => void) {
    this.#ca = ca;
    this.#onError = onError;
  }

  get caPem(): string {
    return this.#ca.pem;
  }

  /**
   * The service's certificate now, and `listener` called with each renewal until the returned function
   * is called (the last one gone, renewals stop).
   */
  async subscribe(
    service: string,
    lifetimeMs: number,
    listener: (issued: Issued) => void,
  ): Promise<{ issued: Issued; unsubscribe: () => void }> {
    let entry = this.#entries.get(service);
    if (!entry || entry.lifetimeMs !== lifetimeMs) {
      if (entry) clearTimeout(entry.timer);
      const listeners: Set<(issued: Issued) => void> = entry?.listeners ?? new Set();
      entry = { lifetimeMs, current: this.#ca.issue(service, lifetimeMs), timer: undefined, listeners };
      this.#entries.set(service, entry);
      this.#schedule(service, entry);
    }
    let issued: Issued;
    try {
      issued = await entry.current;
    } catch (error) {
      if (entry.listeners.size === 0 && this.#entries.get(service) === entry) {
        clearTimeout(entry.timer);
        this.#entries.delete(service);
      }
      throw error;
    }
    entry.listeners.add(listener);
    const own = entry;
    return {
      issued,
      unsubscribe: () => {
        own.listeners.delete(listener);
        if (own.listeners.size === 0 && this.#entries.get(service) === own) {
          clearTimeout(own.timer);
          this.#entries.delete(service);
        }
      },
    };
  }

  #schedule(service: string, entry: Entry): void {
    entry.timer = setTimeout(() => {
      const next = this.#ca.issue(service, entry.lifetimeMs);
      next.then(
        (issued) => {
          if (this.#entries.get(service) !== entry) return;
          entry.current = next;
          for (const listener of entry.listeners) listener(issued);
          this.#schedule(service, entry);
        },
        (error: Error) => {
          this.#onError(service, error);
          if (this.#entries.get(service) === entry) this.#schedule(service, entry);
        },
      );
    }, entry.lifetimeMs / 2);
    entry.timer.unref();
  }

  close(): void {
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
    this.#entries.clear();
  }
}
