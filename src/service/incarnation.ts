// One process incarnation of an instance: its port, rotation key, probe and readiness. An instance
// (a slot) has one current incarnation, and briefly a second one while it is being replaced.
import type { ExitInfo, RunningInstance } from '../types.js';

export interface Incarnation {
  /** Rotation key, unique per process: `web#1:4242`. */
  readonly key: string;
  readonly port: number;
  readonly run: RunningInstance;
  /** The environment it was started with (probes run with it). */
  readonly env: Readonly<Record<string, string>>;
  ready: boolean;
  livenessStarted: boolean;
  /** Stopped because its liveness probe failed: its exit counts as a failure. */
  unhealthy: boolean;
  /** Being stopped on purpose (stop, rollout, scale-down): its exit is not a crash. */
  retiring: boolean;
  stopProbe: () => void;
  /** Resolves true when first ready, false if it exits (or is retired) before that. */
  readonly firstReady: Promise<boolean>;
  settleFirstReady(ready: boolean): void;
  exit: ExitInfo | null;
  /** Settles once its exit has been fully handled (group gone, port released). */
  handled: Promise<void>;
}

export function createIncarnation(
  key: string,
  port: number,
  run: RunningInstance,
  env: Readonly<Record<string, string>>,
): Incarnation {
  let settle: (ready: boolean) => void = () => {};
  const firstReady = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  return {
    key,
    port,
    run,
    env,
    ready: false,
    livenessStarted: false,
    unhealthy: false,
    retiring: false,
    stopProbe: () => {},
    firstReady,
    settleFirstReady: (ready) => settle(ready),
    exit: null,
    handled: Promise.resolve(),
  };
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error) return `could not start: ${exit.error}`;
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** The environment of an instance: msup's own, then the service's, then msup's variables (which win). */
export function instanceEnv(
  base: Readonly<Record<string, string | undefined>>,
  service: Readonly<Record<string, string>>,
  vars: { port: number; service: string; index: number; instances: number },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  return Object.assign(env, service, {
    PORT: String(vars.port),
    MSUP_SERVICE: vars.service,
    MSUP_INSTANCE: String(vars.index),
    MSUP_INSTANCES: String(vars.instances),
  });
}
