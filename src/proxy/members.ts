// The instances one service balances over: who is in rotation, who is ejected, who is next, and the
// per-instance counters. Pure: no I/O, no timers; the clock and randomness are passed in.
import { type EjectionSettings, PassiveHealth } from './ejection.js';
import { createStrategy, type Strategy, type StrategyName } from './strategies.js';

export interface BalancingSettings extends EjectionSettings {
  strategy: StrategyName;
  /** Weight per instance index; a missing entry is 1. */
  weights: readonly number[];
}

/** Counters for one instance index, summed over its restarts. */
export interface InstanceCounters {
  /** Requests (TCP mode: connections) being served now, upgraded connections included. */
  inFlight: number;
  /** Attempts sent to this instance (TCP mode: connections). */
  requests: number;
  /** Attempts that failed: refused, reset, timed out or answered with garbage. */
  errors: number;
  /** Attempts that were a retry of a request another instance failed. */
  retries: number;
  /** Times passive ejection took this instance out. */
  ejections: number;
  /** Out of rotation now because of passive ejection. */
  ejected: boolean;
}

export interface Member {
  readonly key: string;
  readonly label: string;
  readonly index: number;
  /** Where the instance serves (its runtime's endpoint). */
  readonly host: string;
  readonly port: number;
  /**
   * msup's sidecar answers at the endpoint (the incarnation runs under the sidecar runtime): only then is
   * a 503 with NOT_FORWARDED_HEADER taken as "the app never got the request". A property of the
   * incarnation, not of the service's config: a reload that changes the runtime replaces instances one
   * at a time, and a replacement that fails leaves the old ones serving under the old runtime.
   */
  readonly sidecar: boolean;
  /** From the service's weights by index; a reload may change it. */
  weight: number;
  inFlight: number;
  /** In rotation (ready); false while draining or after `remove`. */
  inRotation: boolean;
}

export interface Clock {
  now(): number;
  random(): number;
}

/** `web#2` → 2; labels without an index count as 0. */
export function indexOfLabel(label: string): number {
  const match = /#(\d+)$/.exec(label);
  return match ? Number(match[1]) : 0;
}

export class Members {
  #settings: BalancingSettings;
  readonly #clock: Clock;
  #strategy: Strategy;
  readonly #health: PassiveHealth;
  readonly #all = new Map<string, Member>();
  readonly #counters = new Map<number, Omit<InstanceCounters, 'ejected' | 'inFlight'>>();

  constructor(settings: BalancingSettings, clock: Clock) {
    this.#settings = settings;
    this.#clock = clock;
    this.#strategy = createStrategy(settings.strategy, clock.random);
    this.#health = new PassiveHealth(settings);
  }

  /**
   * New settings for the members already known and those to come (a config reload). A new strategy
   * starts fresh; ejections in force stay until their time is up.
   */
  configure(settings: BalancingSettings): void {
    if (settings.strategy !== this.#settings.strategy) {
      this.#strategy = createStrategy(settings.strategy, this.#clock.random);
    }
    this.#settings = settings;
    this.#health.configure(settings);
    for (const member of this.#all.values()) member.weight = settings.weights[member.index] ?? 1;
  }

  get(key: string): Member | undefined {
    return this.#all.get(key);
  }

  /** Members in rotation. */
  get readyCount(): number {
    let n = 0;
    for (const m of this.#all.values()) if (m.inRotation) n++;
    return n;
  }

  /** Puts a member in rotation (creating it on first sight). */
  add(key: string, label: string, endpoint: { host: string; port: number; sidecar?: boolean }): Member {
    let member = this.#all.get(key);
    if (!member) {
      const index = indexOfLabel(label);
      const weight = this.#settings.weights[index] ?? 1;
      const { host, port } = endpoint;
      const sidecar = endpoint.sidecar ?? false;
      member = { key, label, index, host, port, sidecar, weight, inFlight: 0, inRotation: true };
      this.#all.set(key, member);
      this.#count(index);
    }
    member.inRotation = true;
    return member;
  }

  /** Out of rotation; the member stays known while its requests finish. */
  remove(key: string): Member | undefined {
    const member = this.#all.get(key);
    if (member) member.inRotation = false;
    return member;
  }

  /** Gone for good. */
  forget(key: string): Member | undefined {
    const member = this.#all.get(key);
    if (!member) return undefined;
    member.inRotation = false;
    this.#all.delete(key);
    this.#strategy.forget(key);
    this.#health.forget(key);
    return member;
  }

  /**
   * The member for the next attempt, skipping `tried`. Ejected members are skipped unless fewer than
   * half of those in rotation are healthy (Envoy's panic rule): then every member in rotation counts.
   */
  pick(tried?: ReadonlySet<string>): Member | undefined {
    const now = this.#clock.now();
    const ready: Member[] = [];
    const healthy: Member[] = [];
    for (const m of this.#all.values()) {
      if (!m.inRotation) continue;
      ready.push(m);
      if (!this.#health.isEjected(m.key, now)) healthy.push(m);
    }
    const pool = healthy.length * 2 < ready.length ? ready : healthy;
    const candidates = tried && tried.size > 0 ? pool.filter((m) => !tried.has(m.key)) : pool;
    if (candidates.length === 0) return undefined;
    return this.#strategy.pick(candidates);
  }

  /** An attempt starts on `member`. */
  begin(member: Member, retry: boolean): void {
    member.inFlight++;
    const c = this.#count(member.index);
    c.requests++;
    if (retry) c.retries++;
  }

  /** An attempt on `member` ended; `failed` counts towards passive ejection. */
  end(member: Member, failed: boolean): void {
    if (member.inFlight > 0) member.inFlight--;
    if (this.#all.get(member.key) !== member) {
      if (failed) this.#count(member.index).errors++;
      return; // forgotten meanwhile: no health record to keep
    }
    if (!failed) {
      this.#health.success(member.key);
      return;
    }
    this.#count(member.index).errors++;
    const now = this.#clock.now();
    if (this.#health.failure(member.key, now, this.#healthyOthers(member) > 0)) {
      this.#count(member.index).ejections++;
    }
  }

  /**
   * A request to `member` timed out: it is ejected now, whatever `maxFails` says (unless it is the last
   * healthy member, as for any ejection), for `failTimeout`. True when it is out of rotation now.
   */
  stall(member: Member): boolean {
    if (this.#all.get(member.key) !== member) return false;
    const now = this.#clock.now();
    if (this.#health.eject(member.key, now, this.#healthyOthers(member) > 0)) {
      this.#count(member.index).ejections++;
    }
    return this.#health.isEjected(member.key, now);
  }

  #healthyOthers(member: Member): number {
    const now = this.#clock.now();
    let n = 0;
    for (const m of this.#all.values()) {
      if (m !== member && m.inRotation && !this.#health.isEjected(m.key, now)) n++;
    }
    return n;
  }

  /** Counters by instance index, for every index seen so far. */
  stats(): Record<number, InstanceCounters> {
    const now = this.#clock.now();
    const out: Record<number, InstanceCounters> = {};
    for (const [index, c] of [...this.#counters].sort((a, b) => a[0] - b[0])) {
      out[index] = { inFlight: 0, ...c, ejected: false };
    }
    for (const m of this.#all.values()) {
      const entry = out[m.index];
      if (!entry) continue;
      entry.inFlight += m.inFlight;
      if (m.inRotation && this.#health.isEjected(m.key, now)) entry.ejected = true;
    }
    return out;
  }

  #count(index: number) {
    let c = this.#counters.get(index);
    if (!c) {
      c = { requests: 0, errors: 0, retries: 0, ejections: 0 };
      this.#counters.set(index, c);
    }
    return c;
  }
}
