// What the environments pool takes and gives: its settings, the environment it manages, a lease, its
// counters, and the error a request gets when no environment can take it. Pure.

export interface PooledEnvironment {
  /** Settles once initialised; rejects when the init failed. */
  readonly ready: Promise<void>;
  readonly exited: Promise<unknown>;
  stop(timeoutMs: number): Promise<void>;
  kill(): void;
}

export interface PoolSettings {
  /** Requests one environment takes at once; 0 for no limit. */
  concurrency: number;
  /** Requests in flight per environment before another is started. */
  target: number;
  minInstances: number;
  maxInstances: number;
  idleTimeoutMs: number;
  scaleToZeroGraceMs: number;
  initTimeoutMs: number;
  overflow: 'throttle' | 'queue';
  /** How long a request may wait for an environment (a cold start, a queue). */
  waitTimeoutMs: number;
  /** Grace period of a polite stop (idle reaping, stopping the function). */
  stopTimeoutMs: number;
}

export type PoolErrorKind = 'throttled' | 'init-failed' | 'wait-timeout' | 'stopped';

export class PoolError extends Error {
  readonly kind: PoolErrorKind;
  /** Lambda's name for it (`TooManyRequestsException`, the init's error type, ...). */
  readonly errorType: string;
  constructor(kind: PoolErrorKind, errorType: string, message: string) {
    super(message);
    this.name = 'PoolError';
    this.kind = kind;
    this.errorType = errorType;
  }
}

export interface Lease<E> {
  readonly env: E;
  /** The first request of an environment started on demand: it waited for the init. */
  readonly cold: boolean;
  /** That init's duration, on a cold lease. */
  readonly initMs: number | null;
}

export interface PoolHooks<E> {
  create(provisioned: boolean): Promise<E>;
  /** An init failed (`final`: tried twice, or it was a provisioned one being replaced later). */
  initFailed(error: Error, attempt: number): void;
}

export interface PoolCounters {
  coldStarts: number;
  inits: number;
  initFailures: number;
  invocations: number;
  /** Ended for being idle. */
  reaped: number;
  /** Ended otherwise: crashed, timed out, over memory. */
  ended: number;
  throttled: number;
}

/** Ends an init that takes longer than this with a clear message (Lambda's wording). */
export function initTimeoutError(ms: number): PoolError {
  return new PoolError(
    'init-failed',
    'Runtime.InitTimeout',
    `the environment's init did not finish within ${ms}ms`,
  );
}
