// Which instance of a peer service gets the next request: the better of two picked at random (power of
// two choices), by requests in flight ('least-request', Envoy's) or by peak-EWMA latency times requests
// in flight ('ewma', Linkerd's and Finagle's). Pure: the clock and the randomness are passed in.

export type BalancingKind = 'ewma' | 'least-request';

/** How fast the latency estimate forgets (Finagle's default decay). */
export const EWMA_DECAY_MS = 10_000;
/** A new instance's latency estimate until it has answered. */
export const EWMA_INITIAL_MS = 1;
/** The least a faded estimate goes down to. */
const EWMA_FLOOR_MS = 1e-6;
/** A failed request counts as at least this slow, so a fast-failing instance does not attract traffic. */
export const FAILURE_PENALTY_MS = 250;

interface Member {
  inFlight: number;
  ewmaMs: number;
  at: number;
}

export class Balancer {
  readonly #kind: BalancingKind;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #members = new Map<string, Member>();

  constructor(kind: BalancingKind, now: () => number, random: () => number) {
    this.#kind = kind;
    this.#now = now;
    this.#random = random;
  }

  /** The instances there are now: new ones join, gone ones leave (with their state). */
  sync(keys: readonly string[]): void {
    const wanted = new Set(keys);
    for (const key of this.#members.keys()) if (!wanted.has(key)) this.#members.delete(key);
    for (const key of keys)
      if (!this.#members.has(key))
        this.#members.set(key, { inFlight: 0, ewmaMs: EWMA_INITIAL_MS, at: this.#now() });
  }

  keys(): string[] {
    return [...this.#members.keys()];
  }

  /** What the balancer weighs: lower is better. */
  cost(key: string): number {
    const m = this.#members.get(key);
    if (!m) return Number.POSITIVE_INFINITY;
    if (this.#kind === 'least-request') return m.inFlight;
    // The estimate fades while the instance gets no answers, as Finagle's and Linkerd's do on every read:
    // else one slow answer or failure would keep it out for good (it is never picked, so never observed).
    // (Floored: after hours with no answer the faded estimate would be 0, and so would the cost, whatever
    // the requests in flight.)
    return Math.max(m.ewmaMs * this.#weight(m), EWMA_FLOOR_MS) * (m.inFlight + 1);
  }

  /** The better of two random members that `allowed` lets through; null when none is. */
  pick(allowed: (key: string) => boolean): string | null {
    const candidates = [...this.#members.keys()].filter(allowed);
    if (candidates.length <= 1) return candidates[0] ?? null;
    const i = Math.floor(this.#random() * candidates.length);
    let j = Math.floor(this.#random() * (candidates.length - 1));
    if (j >= i) j++;
    const a = candidates[i] as string;
    const b = candidates[j] as string;
    return this.cost(b) < this.cost(a) ? b : a;
  }

  start(key: string): void {
    const m = this.#members.get(key);
    if (m) m.inFlight++;
  }

  /** A request ended after `ms`; a failure counts as at least FAILURE_PENALTY_MS. */
  finish(key: string, ms: number, ok: boolean): void {
    const m = this.#members.get(key);
    if (!m) return;
    m.inFlight = Math.max(0, m.inFlight - 1);
    const rtt = ok ? ms : Math.max(ms, FAILURE_PENALTY_MS);
    const w = this.#weight(m);
    const current = m.ewmaMs * w; // faded since the last answer
    // Peak EWMA: a slower answer is taken at once, a faster one eases the estimate down.
    m.ewmaMs = rtt > current ? rtt : current + rtt * (1 - w);
    m.at = this.#now();
  }

  #weight(m: Member): number {
    return Math.exp(-Math.max(0, this.#now() - m.at) / EWMA_DECAY_MS);
  }
}
