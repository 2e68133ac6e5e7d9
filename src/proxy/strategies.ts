// The two ways to choose an instance for a request: smooth weighted round robin (nginx) and least
// request by the power of two choices (Envoy). Pure: no I/O, no timers, randomness passed in.

export interface Candidate {
  readonly key: string;
  /** Relative share of requests (positive); 1 when no weights are given. */
  readonly weight: number;
  /** Requests (or TCP connections) this member is serving right now. */
  readonly inFlight: number;
}

export type StrategyName = 'round-robin' | 'least-request';

export interface Strategy {
  /** One of `candidates` (never empty), by this strategy's rule. */
  pick<T extends Candidate>(candidates: readonly T[]): T;
  /** A member left for good: drop what the strategy remembers about it. */
  forget(key: string): void;
}

/**
 * nginx's smooth weighted round robin: every pick adds each candidate's weight to its running score,
 * takes the highest, and subtracts the total from it. Equal weights give plain rotation in order;
 * weights 5,1,1 give a a b a c a a (spread out, not bursts).
 */
export class SmoothRoundRobin implements Strategy {
  readonly #score = new Map<string, number>();

  pick<T extends Candidate>(candidates: readonly T[]): T {
    let best = candidates[0] as T;
    let bestScore = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (const c of candidates) {
      const score = (this.#score.get(c.key) ?? 0) + c.weight;
      this.#score.set(c.key, score);
      total += c.weight;
      if (score > bestScore) {
        best = c;
        bestScore = score;
      }
    }
    this.#score.set(best.key, bestScore - total);
    return best;
  }

  forget(key: string): void {
    this.#score.delete(key);
  }
}

/** Envoy's least request: two distinct random candidates, the one with fewer requests per weight wins. */
export class LeastRequest implements Strategy {
  readonly #random: () => number;

  constructor(random: () => number) {
    this.#random = random;
  }

  pick<T extends Candidate>(candidates: readonly T[]): T {
    const n = candidates.length;
    if (n === 1) return candidates[0] as T;
    const i = Math.floor(this.#random() * n) % n;
    let j = Math.floor(this.#random() * (n - 1)) % (n - 1);
    if (j >= i) j++;
    const a = candidates[i] as T;
    const b = candidates[j] as T;
    return (b.inFlight + 1) / b.weight < (a.inFlight + 1) / a.weight ? b : a;
  }

  forget(): void {}
}

export function createStrategy(name: StrategyName, random: () => number): Strategy {
  return name === 'least-request' ? new LeastRequest(random) : new SmoothRoundRobin();
}
