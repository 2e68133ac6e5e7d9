// Each service's current mesh certificate, renewed at half its life while the service has sidecars: every
// sidecar of the service gets the new one, and swaps it in without dropping a request. Renewals are due
// on the wall clock, which certificates are valid by: a timer alone (monotonic) would not count the time a
// laptop sleeps, and certificates would expire before their renewal. A short timer looks at the wall
// clock instead, and also pushes the CAs to trust to every sidecar when the mesh CA is replaced.
import type { LogLevel } from '../../types.js';
import type { Issued, MeshCa } from './ca.js';

/** The longest a renewal or a new CA waits past its time (after a sleep, say): how often the clock is read. */
export const CHECK_INTERVAL_MS = 10_000;
/** How long a failed renewal waits before it is tried again. */
export const RETRY_MS = 10_000;
/** The least time between two renewals of a service's certificate. */
const MIN_RENEWAL_MS = 1000;

/** Wall-clock time and timers; tests pass a clock they move. */
export interface WallClock {
  /** Milliseconds since the epoch (Date.now). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

const realClock: WallClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

type Listener = (issued: Issued) => void;

interface Entry {
  lifetimeMs: number;
  current: Promise<Issued>;
  /** The certificate the sidecars have, once issued. */
  issued: Issued | undefined;
  /** When to renew it (wall clock). */
  dueAt: number;
  renewing: boolean;
  failing: boolean;
  listeners: Set<Listener>;
}

/** Half a certificate's life, counted from its issue on the wall clock. */
const renewalTime = (issued: Issued) =>
  issued.issuedAt + Math.max(MIN_RENEWAL_MS, (issued.notAfter - issued.issuedAt) / 2);

export class Identities {
  readonly #ca: MeshCa;
  readonly #log: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;
  readonly #clock: WallClock;
  readonly #entries = new Map<string, Entry>();
  #timer: unknown;
  /** The CAs the sidecars were last given to trust. */
  #trusted: string;

  constructor(
    ca: MeshCa,
    log: (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void,
    clock: WallClock = realClock,
  ) {
    this.#ca = ca;
    this.#log = log;
    this.#clock = clock;
    this.#trusted = ca.pem;
  }

  get caPem(): string {
    return this.#ca.pem;
  }

  /**
   * The service's certificate now, and `listener` called with each renewal (and with the current one when
   * the CAs to trust change) until the returned function is called (the last one gone, renewals stop).
   */
  async subscribe(
    service: string,
    lifetimeMs: number,
    listener: Listener,
  ): Promise<{ issued: Issued; unsubscribe: () => void }> {
    let entry = this.#entries.get(service);
    if (!entry || entry.lifetimeMs !== lifetimeMs) {
      const created: Entry = {
        lifetimeMs,
        current: this.#ca.issue(service, lifetimeMs),
        issued: undefined,
        dueAt: Number.POSITIVE_INFINITY,
        renewing: false,
        failing: false,
        listeners: entry?.listeners ?? new Set(),
      };
      entry = created;
      this.#entries.set(service, created);
      created.current.then(
        (issued) => {
          if (this.#entries.get(service) !== created) return;
          created.issued = issued;
          created.dueAt = renewalTime(issued);
          this.#pushTrust();
          this.#plan();
        },
        () => {},
      );
    }
    let issued: Issued;
    try {
      issued = await entry.current;
    } catch (error) {
      if (entry.listeners.size === 0 && this.#entries.get(service) === entry) {
        this.#entries.delete(service);
        this.#plan();
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
          this.#entries.delete(service);
          this.#plan();
        }
      },
    };
  }

  /** The next look at the clock: at the earliest renewal, and at most CHECK_INTERVAL_MS away. */
  #plan(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#entries.size === 0) return;
    let at = this.#clock.now() + CHECK_INTERVAL_MS;
    for (const entry of this.#entries.values()) if (!entry.renewing) at = Math.min(at, entry.dueAt);
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), Math.max(0, at - this.#clock.now()));
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    // A new CA first, and every sidecar told to trust it, before any certificate it signs goes out.
    await this.#ca.renewIfDue().catch(() => {}); // logged there
    this.#pushTrust();
    const now = this.#clock.now();
    for (const [service, entry] of this.#entries)
      if (!entry.renewing && entry.issued && now >= entry.dueAt) this.#renew(service, entry);
    this.#plan();
  }

  #renew(service: string, entry: Entry): void {
    entry.renewing = true;
    const next = this.#ca.issue(service, entry.lifetimeMs);
    next.then(
      (issued) => {
        entry.renewing = false;
        if (this.#entries.get(service) !== entry) return;
        entry.current = next;
        entry.issued = issued;
        entry.dueAt = renewalTime(issued);
        entry.failing = false;
        // A renewal may have made a new CA: then every sidecar hears of it, this service's among them.
        if (!this.#pushTrust()) for (const listener of entry.listeners) listener(issued);
        this.#plan();
      },
      (error: Error) => {
        entry.renewing = false;
        if (this.#entries.get(service) !== entry) return;
        if (!entry.failing)
          this.#log('error', 'could not renew a mesh certificate', { service, error: error.message });
        entry.failing = true;
        entry.dueAt = this.#clock.now() + RETRY_MS;
        this.#plan();
      },
    );
  }

  /** When the CAs to trust changed, every sidecar gets them with its service's certificate; whether they did. */
  #pushTrust(): boolean {
    const pem = this.#ca.pem;
    if (pem === this.#trusted) return false;
    this.#trusted = pem;
    for (const entry of this.#entries.values()) {
      if (!entry.issued) continue;
      for (const listener of entry.listeners) listener(entry.issued);
    }
    return true;
  }

  close(): void {
    this.#entries.clear();
    this.#plan();
  }
}
