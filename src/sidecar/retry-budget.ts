// The retry budget (Linkerd's, after Finagle's): retries may add `ratio` to the requests of the last
// window, plus `minPerSecond` whatever the traffic, so retries cannot multiply the load of an outage.
// Pure: the clock is passed in.

export interface RetryBudgetSettings {
  ratio: number;
  minPerSecond: number;
  /** The window requests and retries are counted over (default 10 s). */
  windowMs?: number;
}

export class RetryBudget {
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #windowS: number;
  readonly #now: () => number;
  /** Per whole second: [second, requests, retries]. */
  readonly #seconds: [number, number, number][] = [];

  constructor(settings: RetryBudgetSettings, now: () => number) {
    this.#ratio = settings.ratio;
    this.#minPerSecond = settings.minPerSecond;
    this.#windowS = Math.max(1, Math.round((settings.windowMs ?? 10_000) / 1000));
    this.#now = now;
  }

  #current(): [number, number, number] {
    const second = Math.floor(this.#now() / 1000);
    while (
      this.#seconds.length > 0 &&
      (this.#seconds[0] as [number, number, number])[0] <= second - this.#windowS
    )
      this.#seconds.shift();
    let last = this.#seconds[this.#seconds.length - 1];
    if (!last || last[0] !== second) {
      last = [second, 0, 0];
      this.#seconds.push(last);
    }
    return last;
  }

  /** A first try was sent. */
  request(): void {
    this.#current()[1]++;
  }

  /** Takes one retry from the budget; false (nothing taken) when it is spent. */
  tryRetry(): boolean {
    const now = this.#current();
    let requests = 0;
    let retries = 0;
    for (const [, req, ret] of this.#seconds) {
      requests += req;
      retries += ret;
    }
    const allowance = this.#ratio * requests + this.#minPerSecond * this.#windowS;
    if (retries + 1 > allowance) return false;
    now[2]++;
    return true;
  }
}
