// Probe results to readiness: k consecutive successes put an instance in, n consecutive failures
// take it out (Kubernetes' successThreshold / failureThreshold). Pure.

export interface ProbeCounters {
  ready: boolean;
  successes: number;
  failures: number;
}

export const INITIAL_COUNTERS: ProbeCounters = { ready: false, successes: 0, failures: 0 };

export function applyProbeResult(
  counters: ProbeCounters,
  ok: boolean,
  thresholds: { successThreshold: number; failureThreshold: number },
): { counters: ProbeCounters; change: 'ready' | 'unready' | null } {
  const successes = ok ? counters.successes + 1 : 0;
  const failures = ok ? 0 : counters.failures + 1;
  if (!counters.ready && ok && successes >= thresholds.successThreshold) {
    return { counters: { ready: true, successes, failures }, change: 'ready' };
  }
  if (counters.ready && !ok && failures >= thresholds.failureThreshold) {
    return { counters: { ready: false, successes, failures }, change: 'unready' };
  }
  return { counters: { ready: counters.ready, successes, failures }, change: null };
}
