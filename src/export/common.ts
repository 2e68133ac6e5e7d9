// What the Compose and Kubernetes exports share: the instance's port and environment, its command line,
// rounding durations to seconds, and the warnings that name each key whose meaning does not carry over. Pure.

import { peerVariable } from '../config/peer-variable.js';
import { DEFAULTS, PROXY_DEFAULTS } from '../config/resolve.js';
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { watchesSomething } from '../watch/patterns.js';

/** A mapping that loses something: the config key, and what is lost. */
export interface ExportWarning {
  key: string;
  message: string;
}

export class Warnings {
  readonly list: ExportWarning[] = [];
  add(key: string, message: string) {
    if (!this.list.some((w) => w.key === key && w.message === message)) this.list.push({ key, message });
  }
}

/** The port an instance listens on in a container (each has its own network namespace): its front port, else 8080. */
export const containerPort = (service: ResolvedService) =>
  service.port !== null && service.port > 0 ? service.port : 8080;

/** A Service's port: the msup front port when there is one, else the instance's. */
export const servicePort = (service: ResolvedService) =>
  service.port !== null && service.port > 0 ? service.port : containerPort(service);

/** Whether other services reach this one over HTTP or TCP (it has a front port or a shared-front route). */
export function isReachable(service: ResolvedService, config: ResolvedConfig) {
  return service.port !== null || config.proxy.routes.some((r) => r.service === service.name);
}

/** A command line with one program and plain words: no quotes, variables, redirections, lists or globs. */
const SIMPLE = /^[A-Za-z0-9_./:@%+,-]+( +[A-Za-z0-9_./:@%+,=-]+)*$/;

/**
 * The command as an argv: a string runs through `/bin/sh -c`, as msup runs it. In a container the shell
 * is PID 1, which does not pass SIGTERM on: a simple command line is `exec`ed so the program gets it.
 */
export function argv(
  command: ResolvedService['command'],
  options: { exec: boolean } = { exec: true },
): string[] {
  if (!command.shell) return [...command.argv];
  const line = command.argv[0] as string;
  return ['/bin/sh', '-c', options.exec && SIMPLE.test(line.trim()) ? `exec ${line.trim()}` : line];
}

/**
 * A string as Kubernetes (and so Knative) hands it to the program: the kubelet expands `$(VAR)` in a
 * container's command, args, env values and exec probes, and reduces every `$$` to `$` (the EnvVar API:
 * "Double $$ are reduced to a single $"). Escaping only `$(` turned a value `pa$$word` into `pa$word`;
 * every `$` doubled comes out as one `$`, whatever follows it.
 */
export const kubeLiteral = (text: string) => text.replace(/\$/g, () => '$$');

/**
 * Says once that `$` was written `$$` (kubeLiteral) in the documents: right for the kubelet, which reads
 * it back as one `$`, but `podman kube play` (podman 4) passes `$$` on as written.
 */
export function doubledDollarWarning(documents: unknown, warnings: Warnings): void {
  if (JSON.stringify(documents).includes('$$'))
    warnings.add(
      '$',
      'each $ is written $$, which the kubelet reads back as one $; podman kube play passes $$ on as written',
    );
}

/** A warning for a shell command line that stays the container's PID 1. */
export function commandWarning(service: ResolvedService, warnings: Warnings) {
  const line = service.command.argv[0] as string;
  if (service.command.shell && !SIMPLE.test(line.trim()))
    warnings.add(
      `services.${service.name}.command`,
      "runs under /bin/sh as the container's PID 1, which does not pass SIGTERM on: it stops only after stopTimeout (start it with exec, or use an array)",
    );
}

/**
 * The instance's environment: the service's `env`, then each peer's address (`MSUP_<NAME>_URL`, from
 * `peers`: the target's own address of that service), PORT, MSUP_SERVICE, MSUP_INSTANCES, MSUP_INSTANCE
 * (one instance only: replicas share one environment) and HOST=0.0.0.0 (reachable from other containers).
 */
export function environment(
  service: ResolvedService,
  warnings: Warnings,
  peers: Readonly<Record<string, string>> = {},
): [string, string][] {
  const env: Record<string, string> = { ...service.env };
  for (const [name, url] of Object.entries(peers)) env[peerVariable(name)] = url;
  env.PORT = String(containerPort(service));
  env.HOST = '0.0.0.0';
  env.MSUP_SERVICE = service.name;
  env.MSUP_INSTANCES = String(service.instances);
  if (service.instances === 1) env.MSUP_INSTANCE = '0';
  else
    warnings.add(
      `services.${service.name}.instances`,
      `the ${service.instances} replicas share one environment: MSUP_INSTANCE (each msup instance's own index) is not set`,
    );
  return Object.entries(env);
}

/** Whole seconds for a duration, rounded up (at least `min`), with a warning when that changes it. */
export function toSeconds(ms: number, key: string, warnings: Warnings, min = 1): number {
  const seconds = Math.max(min, Math.ceil(ms / 1000));
  if (seconds * 1000 !== ms) warnings.add(key, `${ms} ms becomes ${seconds} s (whole seconds only)`);
  return seconds;
}

/** A duration as Compose and Go write them: `1m30s`, `500ms`. */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${rest ? `${rest}s` : ''}`;
}

/** The warning for a service that watches files, which no export target does. */
export function watchNotExported(service: ResolvedService, warnings: Warnings, target: string): void {
  if (watchesSomething(service.watch))
    warnings.add(
      `services.${service.name}.watch`,
      `${target} does not restart on file changes: not exported`,
    );
}

/** Warnings for the settings that neither export has: file watching, restart backoff, container.mount 'rw'. */
export function commonWarnings(service: ResolvedService, warnings: Warnings, target: string) {
  const key = `services.${service.name}`;
  commandWarning(service, warnings);
  watchNotExported(service, warnings, target);
  const r = service.restart;
  const d = DEFAULTS.restart;
  const backoff = ['initialDelayMs', 'maxDelayMs', 'multiplier', 'resetAfterMs', 'crashLoopAfter'] as const;
  const changed = backoff.filter((k) => r[k] !== d[k]);
  if (changed.length > 0)
    warnings.add(
      `${key}.restart`,
      `the backoff settings are ${target}'s own (msup's ${changed.map((k) => k.replace(/Ms$/, '')).join(', ')} are not exported)`,
    );
  if (service.container.mount === 'rw')
    warnings.add(
      `${key}.container.mount`,
      `"rw": the exported containers run the image's copy of the folder; what they write there is lost with them`,
    );
  if (service.drainTimeoutMs !== DEFAULTS.drainTimeoutMs)
    warnings.add(`${key}.drainTimeout`, `${target} has no drain time for a leaving instance: not exported`);
  if (service.envFiles.length > 0 && target === 'Kubernetes')
    warnings.add(
      `${key}.env_file`,
      'not exported (it may hold secrets): make a ConfigMap or Secret of it and add it to the container with envFrom',
    );
}

/**
 * A warning for a service that runs with msup's sidecar, exported where there is no mesh (Compose, plain
 * Kubernetes): what the sidecar does for its calls and its port is not in the file.
 */
export function sidecarWarning(service: ResolvedService, warnings: Warnings, target: string) {
  if (service.runtime !== 'sidecar') return;
  warnings.add(
    `services.${service.name}.sidecar`,
    `${target} has no mesh: the sidecar's mTLS, retries, timeouts, circuit breaker and balancing are not exported (msup export linkerd or msup export istio adds them)`,
  );
}

/** Warnings for the load-balancing keys set away from their defaults that the target cannot express. */
export function balancingWarnings(
  service: ResolvedService,
  warnings: Warnings,
  target: string,
  keep: readonly (keyof ResolvedService['balancing'])[] = [],
) {
  const d = PROXY_DEFAULTS.balancing;
  const b = service.balancing;
  const names: Record<keyof typeof d, string> = {
    mode: 'mode',
    strategy: 'strategy',
    weights: 'weights',
    holdTimeoutMs: 'holdTimeout',
    maxFails: 'maxFails',
    failTimeoutMs: 'failTimeout',
    responseTimeoutMs: 'responseTimeout',
    maxConnections: 'maxConnections',
  };
  for (const k of Object.keys(names) as (keyof typeof d)[]) {
    if (k === 'mode' || keep.includes(k)) continue;
    const changed = k === 'weights' ? b.weights.length > 0 : b[k] !== d[k];
    if (changed)
      warnings.add(`services.${service.name}.${names[k]}`, `${target} balances on its own: not exported`);
  }
}

/**
 * The config without its functions (and the shared front's routes to them): a function is exported by
 * `msup export sam` or `msup export knative`, each function named in a warning.
 */
export function withoutFunctions(config: ResolvedConfig, warnings: Warnings): ResolvedConfig {
  const functions = new Set(config.services.filter((s) => s.runtime === 'function').map((s) => s.name));
  if (functions.size === 0) return config;
  for (const s of config.services.filter((x) => functions.has(x.name)))
    warnings.add(
      `services.${s.name}`,
      `a function: export it with msup export sam or msup export knative${s.port === null ? '' : ` (the others get no ${peerVariable(s.name)} here)`}`,
    );
  return {
    ...config,
    services: config.services.filter((s) => !functions.has(s.name)),
    proxy: { ...config.proxy, routes: config.proxy.routes.filter((r) => !functions.has(r.service)) },
  };
}

/**
 * A warning for each `container.image` that msup runs with the project folder mounted (`container.mount`):
 * the exported containers run the image alone, without the project's files.
 */
export function givenImageWarnings(
  config: ResolvedConfig,
  images: Readonly<Record<string, { ref: string; kind: string }>>,
  warnings: Warnings,
) {
  for (const service of config.services) {
    const image = images[service.name];
    if (image?.kind === 'given' && service.container.mount !== false)
      warnings.add(
        `services.${service.name}.container.image`,
        `msup runs ${image.ref} with the project folder mounted at ${config.root} and the command in ${service.cwd}; the exported containers run the image alone, without the project's files: if the command needs them, build an image that holds them (a Containerfile) or mount them yourself`,
      );
  }
}
