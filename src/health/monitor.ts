// Runs an instance's probe on a schedule and reports readiness changes. Until the instance is ready
// for the first time it probes quickly (startupProbeDelay), so a fresh instance joins rotation soon after
// it listens: a refused connect on loopback costs microseconds, while a 100 ms step added 50 ms on average
// to every start, and about 90 ms to the last of 8 instances (the one `all ready` waits for).
import type { ResolvedProbeSettings } from '../types.js';
import { type ProbeResult, type ProbeTarget, startProbe } from './probe.js';
import { type StartupSchedule, startupDelay } from './startup-delay.js';
import { applyProbeResult, INITIAL_COUNTERS, type ProbeCounters } from './thresholds.js';

const STARTUP_FIRST_MS = 10;
/** Every 20 ms for 2 s while an instance is not ready yet, then doubling up to 100 ms. */
const STARTUP: StartupSchedule = { fastMs: 20, fastForMs: 2000, maxMs: 100 };
/** An exec probe (a process each time) doubles at once. */
const STARTUP_EXEC: StartupSchedule = { ...STARTUP, fastForMs: 0 };

/**
 * The delay before the next probe of an instance that has never been ready: 10 ms after the first probe,
 * then every 20 ms for its first 2 s (most services are up by then), then 40, 80 and every 100 ms at most
 * for one that starts slowly. `previousMs` is null before the first delay. An `exec` probe (a process
 * each time, not a connect) is not `cheap`: it doubles from 10 ms at once, as every probe did before.
 */
export function startupProbeDelay(sinceStartMs: number, previousMs: number | null, cheap = true): number {
  if (previousMs === null) return STARTUP_FIRST_MS;
  return startupDelay(cheap ? STARTUP : STARTUP_EXEC, sinceStartMs, previousMs);
}

/**
 * A liveness monitor's exec probes that fail for want of processes (EAGAIN) count as failures again once
 * they have done so in a row for this long: the limit is per user, and an instance that leaks processes or
 * threads (run as msup's user, or as a rootless container's root, which maps to it) can use it up itself.
 * Its liveness must not stay blind to that for ever. Readiness never counts them (every instance would
 * leave rotation at once), nor msup's own descriptors (EMFILE, ENFILE). No runtime is exempt: under a
 * rootful engine a container's processes run as its image's USER, which may well be msup's uid (1000 is
 * both the first user of many machines and a common USER of images), and it can change (setuid), so a
 * runtime cannot promise they are not msup's; and after 30 s without a process msup is in trouble anyway.
 */
export const PROCESS_SHORTAGE_LIMIT_MS = 30_000;

export interface MonitorHandlers {
  onReady(detail: string): void;
  onUnready(detail: string): void;
  /** Every probe's result, before any readiness change it causes. */
  onResult?(result: ProbeResult): void;
  /**
   * The first probe of a run that msup could not make for a shortage (`descriptors` or `processes`); not
   * counted either way, but for a run of `processes` past PROCESS_SHORTAGE_LIMIT_MS.
   */
  onInconclusive?(detail: string, shortage: 'descriptors' | 'processes'): void;
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
  // When the probes began to fail for want of processes (EAGAIN), in a row; null outside such a streak.
  let processShortageSince: number | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let underWay: Promise<unknown> = Promise.resolve();
  const abort = new AbortController();
  const probeTarget: ProbeTarget = { ...target, signal: abort.signal };

  const schedule = (delayMs: number) => {
    if (!stopped) timer = setTimeout(tick, delayMs);
  };
  // The fast start-up probing counts from the first probe, not the monitor's start: after an
  // `initialDelay` of 2 s or more it would otherwise be over before the first probe.
  let firstProbeAt: number | null = null;
  const cheap = settings.probe.kind !== 'exec';
  let startupDelay: number | null = null;
  const nextDelay = () => {
    if (everReady) return settings.intervalMs;
    const sinceFirst = firstProbeAt === null ? 0 : performance.now() - firstProbeAt;
    startupDelay = startupProbeDelay(sinceFirst, startupDelay, cheap);
    return Math.min(settings.intervalMs, startupDelay);
  };

  const tick = async () => {
    firstProbeAt ??= performance.now();
    const attempt = startProbe(settings.probe, probeTarget, settings.timeoutMs);
    underWay = Promise.allSettled([attempt.result, attempt.ended]);
    const result = await attempt.result;
    if (stopped) return;
    const now = performance.now();
    if (result.inconclusive !== 'processes') processShortageSince = null;
    else processShortageSince ??= now;
    // Out of processes for long: the limit is per user, and the instance (run as msup's user, or a
    // rootless container's root) may be the one using them up; its probes count again.
    // Liveness only: readiness counted too would take every instance out of rotation at once.
    const longShortage =
      initiallyReady &&
      processShortageSince !== null &&
      now - processShortageSince >= PROCESS_SHORTAGE_LIMIT_MS;
    if (result.inconclusive && !longShortage) {
      // msup's own shortage says nothing about the instance: neither a failure nor a success.
      if (!inconclusive) handlers.onInconclusive?.(result.detail, result.inconclusive);
      inconclusive = true;
    } else {
      inconclusive = false;
      const counted = ` (out of processes for ${PROCESS_SHORTAGE_LIMIT_MS / 1000} s: counted)`;
      const verdict: ProbeResult = result.inconclusive
        ? {
            ok: false,
            detail: result.detail + counted,
            ...(result.reason ? { reason: result.reason + counted } : {}),
          }
        : result;
      handlers.onResult?.(verdict);
      const next = applyProbeResult(counters, verdict.ok, settings);
      counters = next.counters;
      if (next.change === 'ready') {
        everReady = true;
        handlers.onReady(verdict.detail);
      } else if (next.change === 'unready') {
        handlers.onUnready(verdict.detail);
      }
    }
    // The next probe once this one holds nothing (an http body is read after its verdict, up to the
    // timeout): one connection at a time, however the timeout compares with the interval.
    await attempt.ended;
    schedule(nextDelay());
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
