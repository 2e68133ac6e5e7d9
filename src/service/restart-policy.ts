// Whether and when to restart an instance that exited: exponential backoff with jitter that starts
// over after a stable run, and a crash-loop verdict after repeated unstable exits. Pure.
import type { ResolvedRestart } from '../types.js';

export interface ExitFacts {
  code: number | null;
  signal: string | null;
  uptimeMs: number;
  /** The exit was asked for (stop, restart): never restarted by the policy. */
  requested: boolean;
  /** msup stopped it because its liveness probe failed: a failure, whatever the exit code. */
  unhealthy?: boolean;
  /** It never became ready (hung at boot, killed at `startTimeout`): never a stable run, however long. */
  neverReady?: boolean;
}

export type RestartDecision =
  | { restart: false; failed: boolean; consecutive: number }
  | { restart: true; delayMs: number; crashLoop: boolean; consecutive: number };

export function failed(exit: Pick<ExitFacts, 'code' | 'signal' | 'unhealthy'>): boolean {
  return exit.code !== 0 || exit.signal !== null || exit.unhealthy === true;
}

/** The delay before restart number `consecutive` (1-based) of an unstable series, before jitter. */
export function backoffDelay(policy: ResolvedRestart, consecutive: number): number {
  const raw = policy.initialDelayMs * policy.multiplier ** Math.max(0, consecutive - 1);
  return Math.min(policy.maxDelayMs, raw);
}

/**
 * @param previous consecutive unstable exits before this one
 * @param random a number in [0, 1): jitter takes up to 20% off the delay, so delays never pass the cap
 */
export function decideRestart(
  policy: ResolvedRestart,
  exit: ExitFacts,
  previous: number,
  random: number,
): RestartDecision {
  const stable = exit.uptimeMs >= policy.resetAfterMs && exit.neverReady !== true;
  const consecutive = stable ? 1 : previous + 1;
  const isFailure = failed(exit);
  const wanted =
    !exit.requested && (policy.policy === 'always' || (policy.policy === 'on-failure' && isFailure));
  if (!wanted) return { restart: false, failed: isFailure, consecutive };
  const delayMs = Math.round(backoffDelay(policy, consecutive) * (1 - 0.2 * random));
  return { restart: true, delayMs, crashLoop: consecutive >= policy.crashLoopAfter, consecutive };
}
