// What a function would cost on AWS Lambda at list prices: billed duration, GB-seconds and dollars. Pure;
// the prices are in one place, with where they come from. Modelled: no discount, free tier or Savings Plan.

/**
 * AWS Lambda on-demand list prices, US East (N. Virginia), x86_64, as published on
 * https://aws.amazon.com/lambda/pricing/ (duration $0.0000166667 per GB-second, $0.20 per million
 * requests). Since 1 August 2025 the INIT phase is billed as duration too ("AWS Lambda standardizes
 * billing for INIT Phase", AWS Compute Blog, April 2025).
 */
export const LAMBDA_PRICES = {
  usdPerGbSecond: 0.0000166667,
  usdPerMillionRequests: 0.2,
  region: 'us-east-1',
  architecture: 'x86_64',
  source:
    'https://aws.amazon.com/lambda/pricing/ (on-demand, us-east-1, x86_64); INIT billed since 2025-08-01',
} as const;

/** Billed milliseconds: duration (plus the init of a cold start) rounded up to the next millisecond, at least 1. */
export function billedMs(durationMs: number, initMs = 0): number {
  return Math.max(1, Math.ceil(durationMs + initMs));
}

/** GB-seconds of `ms` billed at `memoryMb`. */
export function gbSeconds(ms: number, memoryMb: number): number {
  return (ms / 1000) * (memoryMb / 1024);
}

export interface CostSoFar {
  /** Always true: a model at list prices, not a bill. */
  modelled: true;
  requests: number;
  gbSeconds: number;
  usd: { duration: number; requests: number; total: number };
  prices: typeof LAMBDA_PRICES;
}

/** Invocations added up exactly (integer MB-milliseconds), priced on demand. */
export class CostMeter {
  #requests = 0;
  #mbMs = 0;

  add(billed: number, memoryMb: number): void {
    this.#requests++;
    this.#mbMs += billed * memoryMb;
  }

  get requests(): number {
    return this.#requests;
  }

  cost(): CostSoFar {
    const gbs = this.#mbMs / (1000 * 1024);
    const duration = gbs * LAMBDA_PRICES.usdPerGbSecond;
    const requests = (this.#requests / 1_000_000) * LAMBDA_PRICES.usdPerMillionRequests;
    return {
      modelled: true,
      requests: this.#requests,
      gbSeconds: gbs,
      usd: { duration, requests, total: duration + requests },
      prices: LAMBDA_PRICES,
    };
  }
}
