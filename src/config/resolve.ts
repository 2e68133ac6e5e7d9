// From a validated config to the frozen one msup runs: defaults filled in, durations in ms, paths absolute. Pure.
import path from 'node:path';
import { handlerServeArgv } from '../handler-command.js';
import type {
  DependencyCondition,
  ResolvedBalancing,
  ResolvedCommand,
  ResolvedConfig,
  ResolvedContainer,
  ResolvedFunction,
  ResolvedProbe,
  ResolvedProbeSettings,
  ResolvedProxy,
  ResolvedRestart,
  ResolvedService,
  ResolvedSidecar,
  RuntimeName,
} from '../types.js';
import { plainWords } from './command-line.js';
import { parseDuration } from './duration.js';
import { FUNCTION_DEFAULTS } from './function-defaults.js';
import type { ValidConfig, ValidService } from './schema.js';
import { parseMemory } from './size.js';

export const DEFAULTS = {
  instances: 1,
  stopTimeoutMs: 5000,
  startTimeoutMs: 60_000,
  drainTimeoutMs: 5000,
  probe: { intervalMs: 1000, timeoutMs: 1000, failureThreshold: 3, successThreshold: 1, initialDelayMs: 0 },
  restart: {
    policy: 'always',
    initialDelayMs: 100,
    maxDelayMs: 15_000,
    multiplier: 2,
    resetAfterMs: 30_000,
    crashLoopAfter: 5,
  } satisfies ResolvedRestart,
} as const;

const ms = (value: number | string | undefined, fallback: number): number =>
  value === undefined ? fallback : (parseDuration(value) ?? fallback);

/** An array runs directly; so does a string of plain words. A string with shell syntax runs in /bin/sh. */
function command(value: string | readonly string[]): ResolvedCommand {
  if (typeof value !== 'string') return { shell: false, argv: [...value] };
  const words = plainWords(value);
  return words ? { shell: false, argv: words } : { shell: true, argv: [value] };
}

type ProbeInput = NonNullable<ValidService['health']>;

/**
 * The implicit tcp readiness probe's interval once an instance is ready. A tcp probe cannot tell a hung
 * process (the kernel accepts for it) and an exit is seen at once without it, so probing every second
 * bought little and cost most of an idle msup's CPU (0.6% of a core with 8 instances, 0.1 to 0.3% at 10 s;
 * measured). Kubernetes' default period is 10 s. Start-up probing keeps its fast cadence.
 */
export const IMPLICIT_TCP_INTERVAL_MS = 5000;

/** Readiness: `readiness`, else the `health` shorthand, else tcp on the port (none without a port). */
function readiness(service: ValidService): ResolvedProbeSettings | null {
  const given = service.readiness ?? service.health;
  if (!given)
    return service.port === undefined
      ? null
      : { probe: { kind: 'tcp' }, ...DEFAULTS.probe, intervalMs: IMPLICIT_TCP_INTERVAL_MS };
  return probeSettings(given);
}

/** Liveness: `liveness`, else the `health` shorthand (the same probe), else none; `false` turns it off. */
function liveness(service: ValidService): ResolvedProbeSettings | null {
  if (service.liveness === false) return null;
  const given = service.liveness ?? service.health;
  return given ? probeSettings(given) : null;
}

function dependsOn(service: ValidService): Readonly<Record<string, DependencyCondition>> {
  return { ...(service.dependsOn ?? {}) };
}

function probeSettings(given: ProbeInput): ResolvedProbeSettings {
  const d = DEFAULTS.probe;
  const probe: ResolvedProbe =
    given.http !== undefined
      ? { kind: 'http', path: given.http }
      : given.exec !== undefined
        ? { kind: 'exec', command: command(given.exec) }
        : { kind: 'tcp' };
  return {
    probe,
    intervalMs: ms(given.interval, d.intervalMs),
    timeoutMs: ms(given.timeout, d.timeoutMs),
    failureThreshold: given.failureThreshold ?? d.failureThreshold,
    successThreshold: given.successThreshold ?? d.successThreshold,
    initialDelayMs: ms(given.initialDelay, d.initialDelayMs),
  };
}

function restart(value: ValidService['restart']): ResolvedRestart {
  const d = DEFAULTS.restart;
  const given = value ?? {};
  return {
    policy: given.policy ?? d.policy,
    initialDelayMs: ms(given.initialDelay, d.initialDelayMs),
    maxDelayMs: ms(given.maxDelay, d.maxDelayMs),
    multiplier: given.multiplier ?? d.multiplier,
    resetAfterMs: ms(given.resetAfter, d.resetAfterMs),
    crashLoopAfter: given.crashLoopAfter ?? d.crashLoopAfter,
  };
}

function watch(service: ValidService): ResolvedService['watch'] {
  const given = service.watch;
  // `[]` is kept as given: a list that names nothing to watch, which msup warns of (watchesNothing)
  if (given === undefined || given === false) return null;
  return { paths: given === true ? true : [...given], ignored: [...(service.watchIgnore ?? [])] };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

// --- Load balancing and the shared front (issue 3) ---
export const PROXY_DEFAULTS = {
  balancing: {
    mode: 'http',
    strategy: 'round-robin',
    weights: [],
    holdTimeoutMs: 5000,
    maxFails: 1,
    failTimeoutMs: 10_000,
    responseTimeoutMs: 60_000,
    maxConnections: null,
  } satisfies ResolvedBalancing,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
} as const;

function balancing(service: ValidService): ResolvedBalancing {
  const d = PROXY_DEFAULTS.balancing;
  return {
    mode: service.mode ?? d.mode,
    strategy: service.strategy ?? d.strategy,
    weights: service.weights ?? d.weights,
    holdTimeoutMs: ms(service.holdTimeout, d.holdTimeoutMs),
    maxFails: service.maxFails ?? d.maxFails,
    failTimeoutMs: ms(service.failTimeout, d.failTimeoutMs),
    responseTimeoutMs: ms(service.responseTimeout, d.responseTimeoutMs),
    maxConnections: service.maxConnections ?? d.maxConnections,
  };
}

function proxy(given: ValidConfig['proxy']): ResolvedProxy {
  return {
    port: given?.port ?? null,
    host: given?.host ?? null,
    routes: (given?.routes ?? []).map((r) => ({ ...r, stripPrefix: r.stripPrefix ?? false })),
    headersTimeoutMs: ms(given?.headersTimeout, PROXY_DEFAULTS.headersTimeoutMs),
    bodyTimeoutMs: ms(given?.bodyTimeout, PROXY_DEFAULTS.bodyTimeoutMs),
    maxConnections: given?.maxConnections ?? null,
  };
}
// --- end of load balancing ---

// --- Runtimes (issue 8) ---
/**
 * The runtime a service runs on: `--runtime` first, then the service's own, then the config's, then
 * process. A function is invoked over HTTP, so `'function'` from `--runtime` or the top level passes over
 * a service with neither a port nor a route (a worker): it keeps its own runtime, or process.
 */
function runtimeOf(
  service: ValidService,
  config: ValidConfig,
  override: RuntimeName | undefined,
  http: boolean,
): RuntimeName {
  const own = service.runtime;
  const named: RuntimeName | undefined =
    typeof own === 'string'
      ? own
      : own && typeof own === 'object'
        ? (Object.keys(own)[0] as RuntimeName)
        : undefined;
  const wider = override ?? (named ? undefined : config.runtime);
  if (wider && (wider !== 'function' || http)) return wider;
  return named ?? (config.runtime !== 'function' || http ? config.runtime : undefined) ?? 'process';
}

function containerOf(service: ValidService): ResolvedContainer {
  const own = service.runtime;
  const given = (own && typeof own === 'object' ? own.container : undefined) ?? service.container ?? {};
  return { image: given.image ?? null, engine: given.engine ?? null, mount: given.mount ?? 'ro' };
}

export const SIDECAR_DEFAULTS = {
  retries: 2,
  retryBudget: 0.2,
  minRetriesPerSecond: 10,
  timeoutMs: 10_000,
  tryTimeoutMs: 0,
  breaker: { failures: 5, ejectionMs: 1000, maxEjectionMs: 60_000 },
  balancing: 'ewma',
  mtls: 'strict',
  certLifetimeMs: 3_600_000,
} as const satisfies Omit<ResolvedSidecar, 'bodyTimeoutMs'>;

/** `bodyTimeoutMs`: the front's `proxy.bodyTimeout`, which the sidecars apply too. */
function sidecarOf(service: ValidService, bodyTimeoutMs: number): ResolvedSidecar {
  const own = service.runtime;
  const given = (own && typeof own === 'object' ? own.sidecar : undefined) ?? service.sidecar ?? {};
  const d = SIDECAR_DEFAULTS;
  const breaker = given.breaker === false ? null : (given.breaker ?? {});
  return {
    retries: given.retries ?? d.retries,
    retryBudget: given.retryBudget ?? d.retryBudget,
    minRetriesPerSecond: given.minRetriesPerSecond ?? d.minRetriesPerSecond,
    timeoutMs: ms(given.timeout, d.timeoutMs),
    tryTimeoutMs: ms(given.tryTimeout, d.tryTimeoutMs),
    breaker: breaker && {
      failures: breaker.failures ?? d.breaker.failures,
      ejectionMs: ms(breaker.ejection, d.breaker.ejectionMs),
      maxEjectionMs: Math.max(
        ms(breaker.maxEjection, d.breaker.maxEjectionMs),
        ms(breaker.ejection, d.breaker.ejectionMs),
      ),
    },
    balancing: given.balancing ?? d.balancing,
    mtls: given.mtls ?? d.mtls,
    certLifetimeMs: ms(given.certLifetime, d.certLifetimeMs),
    bodyTimeoutMs,
  };
}

/**
 * Requests in flight per environment before another starts. Lambda starts another once every one is full
 * (the concurrency itself); Knative aims at its target, never past the hard limit (a target of 4 with a
 * concurrency of 1 would hand one environment four requests at once).
 */
function targetOf(given: number | undefined, concurrency: number, profileTarget: number | null): number {
  const wanted = given ?? profileTarget;
  if (wanted === null) return Math.max(concurrency, 1);
  return concurrency > 0 ? Math.min(concurrency, wanted) : wanted;
}

function functionOf(service: ValidService, health: ResolvedProbeSettings | null): ResolvedFunction {
  const own = service.runtime;
  const given = (own && typeof own === 'object' ? own.function : undefined) ?? service.function ?? {};
  const profile = given.profile ?? 'lambda';
  const d = FUNCTION_DEFAULTS[profile];
  const concurrency = given.concurrency ?? d.concurrency;
  const probe = health?.probe;
  return {
    profile,
    concurrency,
    target: targetOf(given.target, concurrency, d.target),
    minInstances: given.minInstances ?? d.minInstances,
    maxInstances: given.maxInstances ?? d.maxInstances,
    idleTimeoutMs: ms(given.idleTimeout, d.idleTimeoutMs),
    scaleToZeroGraceMs: ms(given.scaleToZeroGrace, d.scaleToZeroGraceMs),
    timeoutMs: ms(given.timeout, d.timeoutMs),
    initTimeoutMs: ms(given.initTimeout, d.initTimeoutMs),
    memoryMb: service.memory === undefined ? d.memoryMb : (parseMemory(service.memory) ?? d.memoryMb),
    overflow: given.overflow ?? d.overflow,
    readiness: probe?.kind === 'http' ? { kind: 'http', path: probe.path } : { kind: 'tcp' },
    bootstrap: given.bootstrap === undefined ? null : command(given.bootstrap),
  };
}
// --- end of runtimes ---

export interface ResolveOptions {
  /** Every service on this runtime (`--runtime`). */
  runtime?: RuntimeName | undefined;
}

export function resolveConfig(
  config: ValidConfig,
  root: string,
  file: string | null = null,
  options: ResolveOptions = {},
): ResolvedConfig {
  const routed = new Set((config.proxy?.routes ?? []).map((r) => r.service));
  const resolvedProxy = proxy(config.proxy);
  const services = Object.entries(config.services).map(([name, service]): ResolvedService => {
    // A tcp-mode service has a port but no HTTP: `runtime: 'function'` for a whole config passes it over.
    const http = (service.port !== undefined || routed.has(name)) && service.mode !== 'tcp';
    // A service reached only through the shared front gets the default tcp probe, like one with a port.
    const health = readiness(routed.has(name) ? { ...service, port: service.port ?? 0 } : service);
    const handler = service.handler ?? null;
    return {
      name,
      command: handler ? { shell: false, argv: handlerServeArgv(handler) } : command(service.command ?? []),
      instances: service.instances ?? DEFAULTS.instances,
      port: service.port ?? null,
      env: Object.fromEntries(Object.entries(service.env ?? {}).map(([k, v]) => [k, String(v)])),
      cwd: path.resolve(root, service.cwd ?? '.'),
      envFiles: [service.env_file ?? []].flat().map((file) => path.resolve(root, file)),
      watch: watch(service),
      health,
      liveness: liveness(service),
      dependsOn: dependsOn(service),
      restart: restart(service.restart),
      stopTimeoutMs: ms(service.stopTimeout, DEFAULTS.stopTimeoutMs),
      startTimeoutMs: ms(service.startTimeout, DEFAULTS.startTimeoutMs),
      drainTimeoutMs: ms(service.drainTimeout, DEFAULTS.drainTimeoutMs),
      balancing: balancing(service),
      runtime: runtimeOf(service, config, options.runtime, http),
      container: containerOf(service),
      handler,
      function: functionOf(service, health),
      sidecar: sidecarOf(service, resolvedProxy.bodyTimeoutMs),
      memoryMb: service.memory === undefined ? null : (parseMemory(service.memory) ?? null),
      cpus: service.cpus ?? null,
    };
  });
  const admin = config.admin
    ? {
        port: config.admin.port ?? 0,
        host: config.admin.host ?? '127.0.0.1',
        allowedHosts: [...(config.admin.allowedHosts ?? [])],
      }
    : null;
  return deepFreeze({ root: path.resolve(root), file, services, proxy: resolvedProxy, admin });
}
