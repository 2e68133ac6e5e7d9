// Runs an instance's probe on a schedule and reports readiness changes. Until the instance is ready
// for the first time it probes quickly (every 100 ms at most), so a fresh instance joins rotation soon.
import type { ResolvedProbeSettings } from '../types.js';
import { type ProbeResult, type ProbeTarget, runProbe } from './probe.js';
import { applyProbeResult, INITIAL_COUNTERS, type ProbeCounters } from './thresholds.js';

const STARTUP_INTERVAL_MS = 100;

export interface MonitorHandlers {
  onReady(detail: string): void;
  onUnready(detail: string): void;
  /** Every probe's result, before any readiness change it causes. */
  onResult?(result: ProbeResult): void;
  /** The first probe of a run that msup could not make (out of descriptors); not counted either way. */
  onInconclusive?(detail: string): void;
}

export interface Monitor {
  /** Stops probing; resolves once a probe under way has ended (an exec probe's process group included). */
  stop(): Promise<void>;
}

export function startMonitor(
  settings: ResolvedProbeSettings,
  target: ProbeTarget,
  handlers: MonitorHandlers,
  /** Liveness: the instance counts as healthy from the start, so only failures are reported. */
  initiallyReady = false,
): Monitor {
  let counters: ProbeCounters = initiallyReady ? { ...INITIAL_COUNTERS, ready: true } : INITIAL_COUNTERS;
  let everReady = initiallyReady;
  let inconclusive = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let underWay: Promise<unknown> = Promise.resolve();
  const abort = new AbortController();
  const probeTarget: ProbeTarget = { ...target, signal: abort.signal };

  const schedule = (delayMs: number) => {
    if (!stopped) timer = setTimeout(tick, delayMs);
  };

  const tick = async () => {
    const attempt = runProbe(settings.probe, probeTarget, settings.timeoutMs);
    underWay = attempt;
    const result = await attempt;
    if (stopped) return;
    if (result.inconclusive) {
      // msup's own shortage says nothing about the instance: neither a failure nor a success.
      if (!inconclusive) handlers.onInconclusive?.(result.detail);
      inconclusive = true;
      schedule(everReady ? settings.intervalMs : Math.min(settings.intervalMs, STARTUP_INTERVAL_MS));
      return;
    }
    inconclusive = false;
    handlers.onResult?.(result);
    const next = applyProbeResult(counters, result.ok, settings);
    counters = next.counters;
    if (next.change === 'ready') {
      everReady = true;
      handlers.onReady(result.detail);
    } else if (next.change === 'unready') {
      handlers.onUnready(result.detail);
    }
    schedule(everReady ? settings.intervalMs : Math.min(settings.intervalMs, STARTUP_INTERVAL_MS));
  };

  schedule(settings.initialDelayMs);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
      return underWay.then(
        () => {},
        () => {},
      );
    },
  };
}
