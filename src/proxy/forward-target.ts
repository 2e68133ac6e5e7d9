// What one proxied request needs from its service's balancer (ServiceProxy implements it), and the
// reasons msup itself gives when it cuts an attempt short.
import type { Member, Members } from './members.js';
import type { RequestMetrics } from './request-metrics.js';
import type { RetryBudget } from './retry.js';
import type { UpstreamPool } from './upstream-pool.js';

/** What an exchange needs from its service's balancer (implemented by ServiceProxy). */
export interface ForwardTarget {
  readonly service: string;
  readonly members: Members;
  readonly budget: RetryBudget;
  /** Answers, durations and msup's own answers, for /metrics and the dashboard. */
  readonly metrics: RequestMetrics;
  readonly responseTimeoutMs: number;
  /** How long a request body may pause while msup waits for it (0: no limit); then 408. */
  readonly bodyTimeoutMs: number;
  readonly holdTimeoutMs: number;
  readonly closing: boolean;
  pool(member: Member): UpstreamPool;
  /**
   * Whether the instance behind `member` is gone (its process died, or stopped listening): a reset
   * from it then says nothing about load, and its retry does not count against the budget.
   */
  gone(member: Member): Promise<boolean>;
  /** Registers work on a member (for drain); returns the function that ends it. */
  track(member: Member, destroy: () => void): () => void;
  /**
   * Registers an attempt that waits for response headers and could go elsewhere (`cut` sends it
   * there); returns the function that ends the registration.
   */
  awaiting(member: Member, cut: () => void): () => void;
  /** An attempt on `member` timed out: out of rotation now, and the attempts waiting on it go elsewhere. */
  stalled(member: Member): void;
  /**
   * msup could not open a connection to an instance for want of a descriptor (EMFILE, ENFILE): reported,
   * as the fronts' failed accepts cannot be (libuv closes those connections itself, unseen).
   */
  outOfDescriptors(code: string): void;
  /** Waits for a member to join rotation (`wake`) or for `deadline` (`expire`); returns a cancel. */
  hold(deadline: number, wake: () => void, expire: () => void): () => void;
}

export const ABORTED = Object.assign(new Error('the client went away'), { code: 'MSUP_CLIENT_GONE' });
export const STALLED = Object.assign(new Error('another request to this instance timed out'), {
  code: 'MSUP_STALLED',
});
export const BODY_TIMEOUT = Object.assign(new Error('the client stopped sending its request body'), {
  code: 'MSUP_BODY_TIMEOUT',
});
/** An instance's sidecar answered that its app never got the request (503 with NOT_FORWARDED_HEADER). */
export const NOT_FORWARDED = Object.assign(new Error('its sidecar could not reach the app'), {
  code: 'MSUP_NOT_FORWARDED',
});
