// One process incarnation of an instance: its port, rotation key, probe and readiness. An instance
// (a slot) has one current incarnation, and briefly a second one while it is being replaced.
import { peerVariable } from '../config/peer-variable.js';
import type { RunningInstance } from '../contract.js';
import type { ExitInfo, ProbeOutcome, ResolvedService } from '../types.js';

export interface Incarnation {
  /** Rotation key, unique per incarnation: `web#1:p4242`. */
  readonly key: string;
  /** The runtime that runs it. */
  readonly runtime: string;
  readonly run: RunningInstance;
  /** The launch failed (the runtime threw): no probes, its exit follows at once. */
  readonly failedLaunch: boolean;
  /** The service's settings it was launched with (a reload's rollout skips one launched with the new ones). */
  settings: ResolvedService | null;
  ready: boolean;
  /** It was ready at some point (an exit of one never ready is never a stable run). */
  becameReady: boolean;
  /** The last readiness probe's result. */
  lastProbe: ProbeOutcome | null;
  /** The reason of the last failing probe result that was logged (so each change is logged once, not each new output). */
  loggedProbe: string | null;
  livenessStarted: boolean;
  /** Stopped because its liveness probe failed: its exit counts as a failure. */
  unhealthy: boolean;
  /** Being stopped on purpose (stop, rollout, scale-down): its exit is not a crash. */
  retiring: boolean;
  /** Stops its probes; resolves once a probe under way has ended. */
  stopProbe: () => Promise<void>;
  /** Resolves true when first ready, false if it exits (or is retired) before that. */
  readonly firstReady: Promise<boolean>;
  settleFirstReady(ready: boolean): void;
  exit: ExitInfo | null;
  /** Settles once its exit has been fully handled (group gone, port released). */
  handled: Promise<void>;
}

export function createIncarnation(
  key: string,
  runtime: string,
  run: RunningInstance,
  failedLaunch = false,
): Incarnation {
  let settle: (ready: boolean) => void = () => {};
  const firstReady = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  return {
    key,
    runtime,
    run,
    failedLaunch,
    settings: null,
    ready: false,
    becameReady: false,
    lastProbe: null,
    loggedProbe: null,
    livenessStarted: false,
    unhealthy: false,
    retiring: false,
    stopProbe: () => Promise.resolve(),
    firstReady,
    settleFirstReady: (ready) => settle(ready),
    exit: null,
    handled: Promise.resolve(),
  };
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error) return `could not start: ${exit.error}`;
  // It ran, and the runtime could not learn how it ended (a container removed outside msup).
  if (exit.code === null && exit.signal === null) return `ended (${exit.reason ?? 'its exit is unknown'})`;
  const code = exit.code !== null && exit.signal ? ` (exit ${exit.code})` : '';
  const why = exit.reason ? `, ${exit.reason}` : '';
  return exit.signal ? `killed by ${exit.signal}${code}${why}` : `exited with code ${exit.code}${why}`;
}

/** A launch the runtime refused: an instance that has already ended, with the reason. */
export function failedLaunch(id: string, error: unknown): RunningInstance {
  const message = error instanceof Error ? error.message : String(error);
  const at = Date.now();
  return {
    id,
    pid: null,
    endpoint: null,
    startedAt: at,
    exited: Promise.resolve({ code: null, signal: null, at, uptimeMs: 0, error: message }),
    stop: async () => {},
    kill: () => {},
    exec: async () => ({ code: null, signal: null, timedOut: false, error: 'the instance is not running' }),
  };
}

/**
 * The environment of an instance: msup's own, then the service's, then msup's variables (which win),
 * among them `MSUP_<PEER>_URL` for each service in `urls`. `PORT` is the runtime's to set.
 */
export function instanceEnv(
  base: Readonly<Record<string, string | undefined>>,
  service: Readonly<Record<string, string>>,
  vars: { service: string; index: number; instances: number; urls?: Readonly<Record<string, string>> },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  delete env.PORT;
  Object.assign(env, service);
  for (const [name, url] of Object.entries(vars.urls ?? {})) env[peerVariable(name)] = url;
  return Object.assign(env, {
    MSUP_SERVICE: vars.service,
    MSUP_INSTANCE: String(vars.index),
    MSUP_INSTANCES: String(vars.instances),
  });
}
