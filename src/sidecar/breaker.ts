// The circuit breaker a sidecar keeps per instance it calls: consecutive failures eject the instance,
// for a time that doubles with each ejection in a row (up to a bound); then one trial request may go
// (half-open), and its success closes the breaker. Pure: the clock is passed in.

export interface BreakerSettings {
  /** Consecutive failures that open the breaker. */
  failures: number;
  /** The first ejection's length; each further one in a row doubles it. */
  ejectionMs: number;
  maxEjectionMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What status shows of a breaker (times in epoch ms, on the sidecar's clock: msup's host's). */
export interface BreakerView {
  state: BreakerState;
  /** Failures in a row while closed (0 when open: the ejection reset them). */
  consecutiveFailures: number;
  /** When the instance was ejected (the first ejection of those in a row), or null when closed. */
  since: number | null;
  /** When the current ejection ends (then half-open), or null when closed. */
  until: number | null;
  /** Ejections in a row, without a success between them. */
  ejections: number;
}

/** The breaker of one instance a sidecar calls, by the address it calls (`host:port`). */
export interface MemberBreaker extends BreakerView {
  address: string;
}

/** The breakers of a sidecar's calls to one peer service, as it sends them to msup. */
export interface PeerBreakers {
  peer: string;
  /** Ejections of the peer's instances since the sidecar started (a counter). */
  ejections: number;
  /** Every instance of the peer in rotation (a closed breaker for one not called yet). */
  members: MemberBreaker[];
}

/** What `begin` gives a request: whether it is the half-open breaker's trial. */
export interface BreakerTicket {
  readonly trial: boolean;
}

export class CircuitBreaker {
  readonly #settings: BreakerSettings;
  readonly #now: () => number;
  #consecutive = 0;
  /** Ejections in a row, without a success between them. */
  #ejections = 0;
  #until = 0;
  /** When the breaker opened: the first ejection of those in a row. */
  #since = 0;
  #open = false;
  #trial = false;

  constructor(settings: BreakerSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  get state(): BreakerState {
    if (!this.#open) return 'closed';
    return this.#now() >= this.#until ? 'half-open' : 'open';
  }

  /** How long the current (or last) ejection lasts, in ms. */
  get ejectionMs(): number {
    const { ejectionMs, maxEjectionMs } = this.#settings;
    return Math.min(ejectionMs * 2 ** Math.max(0, this.#ejections - 1), maxEjectionMs);
  }

  view(): BreakerView {
    const open = this.#open;
    return {
      state: this.state,
      consecutiveFailures: this.#consecutive,
      since: open ? this.#since : null,
      until: open ? this.#until : null,
      ejections: this.#ejections,
    };
  }

  /** Whether a request may go now: always when closed; when half-open, one trial at a time. */
  allows(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && !this.#trial);
  }

  /**
   * A request is sent (call only after `allows()`); its verdict is given with the ticket this returns.
   * When half-open, it is the trial.
   */
  begin(): BreakerTicket {
    const trial = this.state === 'half-open';
    if (trial) this.#trial = true;
    return { trial };
  }

  /** A request that ended without a verdict (the client went away): a trial may go again. */
  cancel(ticket: BreakerTicket): void {
    if (ticket.trial) this.#trial = false;
  }

  /** True when it closes the breaker of an ejected instance (its trial succeeded): a recovery, to log. */
  success(ticket: BreakerTicket): boolean {
    // A request sent before the ejection, answered while the instance is out: it changes nothing.
    if (this.#open && !ticket.trial) return false;
    const recovered = this.#open;
    this.#open = false;
    this.#trial = false;
    this.#consecutive = 0;
    this.#ejections = 0;
    return recovered;
  }

  /** True when it ejects the instance (for `ejectionMs`): an ejection, to log. */
  failure(ticket: BreakerTicket): boolean {
    if (this.#open) {
      // Only the trial says how the instance is now: requests sent before the ejection that fail late
      // (timeouts of a hung instance, one after another) would eject it again and again, for longer.
      if (!ticket.trial) return false;
      this.#eject();
      return true;
    }
    this.#consecutive++;
    if (this.#consecutive < this.#settings.failures) return false;
    this.#eject();
    return true;
  }

  #eject(): void {
    if (!this.#open) this.#since = this.#now();
    this.#open = true;
    this.#trial = false;
    this.#consecutive = 0;
    this.#ejections++;
    this.#until = this.#now() + this.ejectionMs;
  }
}
