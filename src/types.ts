// Public types: what users write in supervisor.config.ts, and what the API reports back.

/** Milliseconds as a number, or a string such as `'500ms'`, `'5s'`, `'2m'`. */
export type Duration = number | string;

export interface ProbeTiming {
  /** Time between probes once the instance is ready (default `'1s'`). */
  interval?: Duration;
  /** Time one probe may take (default `'1s'`). */
  timeout?: Duration;
  /** Consecutive failures that take a ready instance out of rotation (default 3). */
  failureThreshold?: number;
  /** Consecutive successes that put an instance in rotation (default 1). */
  successThreshold?: number;
  /** Wait this long after start before the first probe (default 0). */
  initialDelay?: Duration;
}

export interface HttpProbeConfig extends ProbeTiming {
  /** Path requested with GET on the instance's port, e.g. `'/health'`. Any 2xx or 3xx passes. */
  http: string;
}
export interface TcpProbeConfig extends ProbeTiming {
  /** Passes when the instance's port accepts a connection. */
  tcp: true;
}
export interface ExecProbeConfig extends ProbeTiming {
  /** A command run in the service's cwd with its env; exit 0 passes. */
  exec: string | string[];
}
export type ProbeConfig = HttpProbeConfig | TcpProbeConfig | ExecProbeConfig;

export type RestartPolicyName = 'always' | 'on-failure' | 'never';

export interface RestartConfig {
  policy?: RestartPolicyName;
  /** First delay before a restart (default `'100ms'`). */
  initialDelay?: Duration;
  /** Largest delay between restarts (default `'15s'`). */
  maxDelay?: Duration;
  /** Each consecutive failure multiplies the delay by this (default 2). */
  multiplier?: number;
  /** An instance up this long counts as stable: the backoff starts over (default `'30s'`). */
  resetAfter?: Duration;
  /** After this many consecutive unstable exits the service shows `crash-loop` (default 5). */
  crashLoopAfter?: number;
}

export interface ServiceConfig {
  /**
   * An array runs directly, without a shell; so does a string of plain words (split on spaces). A string
   * with shell syntax (quotes, `$`, globs, operators, redirections, `VAR=x cmd`, builtins) runs through `/bin/sh -c`.
   * A service has `command` or `handler`.
   */
  command?: string | readonly string[];
  /**
   * A Node.js function with the AWS Lambda signature instead of a command: `'fns/hello.handler'` is the
   * export `handler` of `fns/hello.js` (or `.mjs`, `.cjs`) in the service's `cwd`. It answers HTTP requests
   * as API Gateway's payload 2.0 events: as a function (`runtime: 'function'`), or served by msup's own
   * small HTTP server under the other runtimes. Needs a `port` or a route.
   */
  handler?: string;
  /** How many instances to run (default 1). */
  instances?: number;
  /** The front port msup's proxy listens on for this service. 0 picks a free port. Omit for workers. */
  port?: number;
  // --- Load balancing (issue 3): how the proxy spreads this service's traffic over its instances ---
  /** `'http'` (default): balanced per request, with retries. `'tcp'`: per connection, any protocol. */
  mode?: 'http' | 'tcp';
  /** `'round-robin'` (default; smooth weighted when `weights` is set) or `'least-request'` (power of two choices). */
  strategy?: 'round-robin' | 'least-request';
  /** Relative weight per instance index (`[3, 1]`: instance 0 gets three times the share of instance 1); missing entries are 1. */
  weights?: number[];
  /** How long a request waits for a ready instance (all restarting) before 503 (default `'5s'`). */
  holdTimeout?: Duration;
  /** Failures within `failTimeout` that take an instance out of rotation for `failTimeout` (nginx max_fails; default 1, 0 = off). */
  maxFails?: number;
  /** The window for `maxFails`, and how long an ejected instance stays out (nginx fail_timeout; default `'10s'`). */
  failTimeout?: Duration;
  /** Time an instance has to send response headers once the request is sent (default `'60s'`); 0 = no limit. */
  responseTimeout?: Duration;
  /**
   * The most client connections the service's own front holds at once; more are refused (default:
   * a share of what msup's file-descriptor limit allows, split between the fronts).
   */
  maxConnections?: number;
  // --- end of load balancing ---
  /** Extra environment for every instance, on top of msup's own environment. */
  env?: Record<string, string | number | boolean>;
  /** Working directory, relative to the config file's folder (default: that folder). */
  cwd?: string;
  /** Extra `.env`-style files read at every launch, relative to the project folder, after `<project>/.env`; a later file wins. */
  env_file?: string | string[];
  /** Restart (rolling) when files change: `true` for the whole cwd, or paths and globs relative to the cwd such as `'src/**\/*.ts'`. */
  watch?: boolean | string[];
  /** More paths or globs to ignore when watching, on top of the defaults (node_modules, .git, dist, build, coverage, .msup, *.log). */
  watchIgnore?: string[];
  /**
   * Shorthand for one probe used as both `readiness` and `liveness`. Without any probe, an instance
   * is ready when its port accepts connections (or after 500 ms up with no port), and never restarted for being unhealthy.
   */
  health?: ProbeConfig;
  /** Decides whether an instance is in rotation (Kubernetes' readinessProbe). Overrides `health` for readiness. */
  readiness?: ProbeConfig;
  /**
   * Decides whether an instance is restarted (Kubernetes' livenessProbe): checked once the instance has
   * been ready; `failureThreshold` failures in a row restart it. `false` turns off the liveness `health` implies.
   */
  liveness?: ProbeConfig | false;
  /**
   * Services that must reach a condition before this one starts: `['db']` means ready, or
   * `{ db: 'ready', migrate: 'completed', cache: 'started' }`. Stop runs in reverse order.
   */
  dependsOn?: readonly string[] | Record<string, DependencyCondition>;
  /** `'always'` (default), `'on-failure'`, `'never'`, or an object with backoff settings. */
  restart?: RestartPolicyName | RestartConfig;
  /** Time between SIGTERM and SIGKILL when stopping (default `'5s'`). */
  stopTimeout?: Duration;
  /** An instance with a readiness probe that is not ready this long after it started is restarted, as a failure (default `'60s'`). */
  startTimeout?: Duration;
  /** When an instance leaves (rolling restart, scale down), how long its in-flight requests and open connections may take to finish (default `'5s'`). */
  drainTimeout?: Duration;
  // --- Runtimes (issue 8) ---
  /**
   * How the instances run: `'process'` (default), `'container'`, `'function'`, `'sidecar'`, or
   * `{ container: { ... } }`, `{ function: { ... } }`, `{ sidecar: { ... } }` (the runtime with its
   * settings). The top-level `runtime`, and `msup start --runtime NAME`, change it for every service (a
   * service with neither a port nor a route stays what it was under `'function'`: a function is invoked
   * over HTTP).
   */
  runtime?:
    | RuntimeName
    | { container: ContainerConfig }
    | { function: FunctionConfig }
    | { sidecar: SidecarConfig };
  /** Settings used whenever this service runs as containers (`runtime`, or `--runtime container`). */
  container?: ContainerConfig;
  /** Settings used whenever this service runs as a function (`runtime`, or `--runtime function`). */
  function?: FunctionConfig;
  /** Settings used whenever this service runs with a sidecar (`runtime: 'sidecar'`, or `--runtime sidecar`). */
  sidecar?: SidecarConfig;
  /**
   * Memory per instance, in MB or as `'256m'`, `'1g'`: the container's limit, a function environment's
   * memory size (default 128), and the exports' resources.
   */
  memory?: number | string;
  /** CPUs per instance, such as `0.5`: the container's limit, and the exports' resources. */
  cpus?: number;
}

/** The runtimes msup has. */
export type RuntimeName = 'process' | 'container' | 'function' | 'sidecar';

/**
 * How a function runs (docs/runtimes.md): execution environments started on demand behind a gateway.
 * The defaults follow AWS Lambda; `profile: 'knative'` takes Knative Serving's.
 */
export interface FunctionConfig {
  /** Whose defaults: `'lambda'` (default) or `'knative'`. */
  profile?: 'lambda' | 'knative';
  /** Requests one environment takes at once: 1 (Lambda), N, or 0 for no limit (Knative's containerConcurrency 0). */
  concurrency?: number;
  /** Requests in flight per environment the scaler aims for before it starts another (Knative's target, default 100). */
  target?: number;
  /** Environments kept warm, even idle (provisioned concurrency, Knative's min-scale; default 0). */
  minInstances?: number;
  /** Environments at most (default 10); past them a request gets 429 (Lambda) or waits (Knative). */
  maxInstances?: number;
  /** An environment idle this long is ended (default `'60s'`; Knative: the 60 s stable window). */
  idleTimeout?: Duration;
  /** The last environment waits this much longer before it goes (Knative's scale-to-zero grace period, 30 s). */
  scaleToZeroGrace?: Duration;
  /** Time one invocation may take; past it the answer is 504 and the environment is ended (default `'3s'`; Knative 300 s). */
  timeout?: Duration;
  /** Time an environment may take to start (spawn → handler loaded or port ready); tried twice (default `'10s'`). */
  initTimeout?: Duration;
  /** Past maxInstances with every environment busy: `'throttle'` (429, Lambda's default) or `'queue'` (wait, Knative's). */
  overflow?: 'throttle' | 'queue';
  /**
   * A handler's environments run this instead of msup's own bootstrap: any program that speaks the Lambda
   * Runtime API (a custom runtime, as Lambda's `provided` runtimes run a `bootstrap`), such as AWS's
   * `aws-lambda-ric` (`'npx aws-lambda-ric $_HANDLER'`). It gets AWS_LAMBDA_RUNTIME_API, _HANDLER and
   * LAMBDA_TASK_ROOT.
   */
  bootstrap?: string | string[];
}

export interface ContainerConfig {
  /** An image to run instead of building one (it must hold what `command` needs). */
  image?: string;
  /** `'podman'` or `'docker'`; by default podman, else docker when it has a running engine. */
  engine?: 'podman' | 'docker';
  /** The project folder inside the container, at the same path: `'ro'` (default), `'rw'`, or `false` (the image's copy runs). */
  mount?: 'ro' | 'rw' | false;
}

/**
 * The sidecar beside each instance (issue 10): what it does with the calls this service makes to the
 * others (retries, timeouts, circuit breaking, balancing), and how it secures its own port (mTLS).
 */
export interface SidecarConfig {
  /** Retries of a failed call to another service, on another instance where there is one (default 2; 0 = none). */
  retries?: number;
  /**
   * Retries may add this share to the calls made over the last 10 s (default 0.2: 20%), plus
   * `minRetriesPerSecond` (Linkerd's retry budget): retries stop before they can multiply an outage.
   */
  retryBudget?: number;
  /** Retries always allowed per second, whatever the budget (default 10). */
  minRetriesPerSecond?: number;
  /** Time a call may take in all, retries included, before the sidecar answers 504 (default `'10s'`; 0 = no limit). */
  timeout?: Duration;
  /** Time one try may take before it counts as failed (and is retried) (default 0: only `timeout`). */
  tryTimeout?: Duration;
  /** The circuit breaker per instance called; `false` turns it off. */
  breaker?: SidecarBreakerConfig | false;
  /** How calls are spread over the instances of the service called: `'ewma'` (default, Linkerd's) or `'least-request'`. */
  balancing?: 'ewma' | 'least-request';
  /** `'strict'` (default): the mesh port takes mTLS from the mesh only. `'permissive'`: plain text too (Istio's PERMISSIVE). */
  mtls?: 'strict' | 'permissive';
  /** How long a service's certificate is valid; it is renewed at half of it (default `'1h'`, at least `'2s'`). */
  certLifetime?: Duration;
}

export interface SidecarBreakerConfig {
  /** Consecutive failures (5xx or no answer) that eject an instance (default 5). */
  failures?: number;
  /** How long the first ejection lasts; each further one in a row doubles it (default `'1s'`). */
  ejection?: Duration;
  /** The longest ejection (default `'60s'`). */
  maxEjection?: Duration;
}

/** `started`: every instance launched; `ready`: every instance ready; `completed`: every instance exited with code 0. */
export type DependencyCondition = 'started' | 'ready' | 'completed';

export interface MsupConfig {
  /** The runtime of every service that does not name its own (default `'process'`). */
  runtime?: RuntimeName;
  services: Record<string, ServiceConfig>;
  /** The shared front: one port that routes by path prefix and host to services. */
  proxy?: ProxyConfig;
  /**
   * The admin listener: the dashboard and /metrics (`msup start` opens one on a free port without it;
   * the API's `start()` only with it or the `admin` option).
   */
  admin?: AdminConfig;
}

export interface AdminConfig {
  /** Its port (default 0: a free one). */
  port?: number;
  /** The address it listens on (default `'127.0.0.1'`: this machine only). */
  host?: string;
  /**
   * Names it answers to in `Host` besides IP addresses, `localhost` (and names under `.localhost`) and
   * `host`: each a host name (`'metrics.example.com'`), or one led by a dot for it and every name under it
   * (`'.example.com'`). Any other name gets 421 (DNS rebinding). Default none.
   */
  allowedHosts?: string[];
}

// --- The shared front (issue 3) ---
export interface ProxyRoute {
  /** Path prefix, e.g. `'/api'` (matches `/api`, `/api/...`, not `/apix`); the longest match wins. */
  path?: string;
  /** Host name without port, e.g. `'admin.localhost'`; a route with a matching host wins over one without. */
  host?: string;
  /** The service that gets the request (an HTTP-mode service). */
  service: string;
  /** Remove `path` from the request path before forwarding (`/api/users` → `/users`). */
  stripPrefix?: boolean;
}

export interface ProxyConfig {
  /** The shared front's port (0 picks a free one). Required with `routes`. */
  port?: number;
  /** The address it listens on (default: the API's `host`, else `'127.0.0.1'`). */
  host?: string;
  routes?: ProxyRoute[];
  /** Time a client has to send its request headers before 408, on every front port (default `'10s'`). */
  headersTimeout?: Duration;
  /**
   * Time a request body may pause (no byte arriving while msup waits for one) before 408, on every
   * front port (default `'10s'`; `0`: no limit). nginx's `client_body_timeout`.
   */
  bodyTimeout?: Duration;
  /** The most client connections the shared front holds at once (default: its share, as for a service). */
  maxConnections?: number;
}
// --- end of the shared front ---

/** Why an instance's process ended. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Epoch milliseconds. */
  at: number;
  /** How long the process ran, in milliseconds. */
  uptimeMs: number;
  /** Set when the process could not be launched at all (e.g. the command was not found). */
  error?: string;
  /**
   * Why it ended, where the runtime knows (`'OOMKilled'`: over its memory limit). With `code` and `signal`
   * both null, why the exit is not known (`'removed outside msup'`: a container removed with the engine).
   */
  reason?: string;
  /**
   * msup stopped it for its health: its liveness probe failed (`reason: 'liveness probe failed'`), or it
   * was not ready within `startTimeout` (`reason: 'not ready in time'`). A failed exit whatever its code:
   * an exit 0 on that SIGTERM is no clean end.
   */
  unhealthy?: true;
}

export type InstanceState =
  | 'waiting' // not started yet: waiting for its dependencies (dependsOn)
  | 'starting' // process launched, not yet ready
  | 'running' // process up (see `ready` for rotation)
  | 'backoff' // exited, restart scheduled
  | 'crash-loop' // exited repeatedly soon after start; still restarted, with delays growing to maxDelay
  | 'stopping' // SIGTERM sent, waiting for the process group to end
  | 'stopped' // stopped by msup
  | 'exited'; // ended and the restart policy says not to restart

export interface InstanceInfo {
  service: string;
  index: number;
  /** The runtime it runs on. */
  runtime: string;
  /** The runtime's id for the current incarnation (`p4242` for a process, the container's name), or null. */
  id: string | null;
  /** The host pid of its main process, where there is one. */
  pid: number | null;
  /** Where the proxy and the probes reach it, or null (no port, or not running). */
  endpoint: { host: string; port: number } | null;
  /** The port of `endpoint` (kept for scripts that read it). */
  port: number | null;
  state: InstanceState;
  /** In the proxy's rotation. */
  ready: boolean;
  restarts: number;
  lastExit: ExitInfo | null;
  /** When the current process started (epoch ms), or null. */
  startedAt: number | null;
  /** The last readiness probe's result, or null before the first. */
  lastProbe: ProbeOutcome | null;
  /** What the runtime says of the instance beyond these fields (see each runtime), or absent. */
  details?: Record<string, unknown>;
  /**
   * Set while the instance is `waiting` for a dependency that will not get there by itself (it exited and
   * its policy does not restart it): why, e.g. `its dependency db exited with code 2`.
   */
  blocked?: string;
}

export interface ProbeOutcome {
  ok: boolean;
  /** What the probe saw: `GET /health answered 404`, `tcp connect failed: ECONNREFUSED`, ... */
  detail: string;
  /** Epoch ms. */
  at: number;
}

export interface ServiceInfo {
  name: string;
  instances: InstanceInfo[];
  /** The front URL, or null for a service without a port. */
  url: string | null;
  /** Last lines the service wrote to stderr (kept for crash reports). */
  stderrTail: string[];
}

// The config as msup runs it: validated, defaults filled in, durations in ms, paths absolute, frozen.

export type ResolvedProbe =
  | { kind: 'http'; path: string }
  | { kind: 'tcp' }
  | { kind: 'exec'; command: ResolvedCommand };

export interface ResolvedProbeSettings {
  probe: ResolvedProbe;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
  initialDelayMs: number;
}

export interface ResolvedCommand {
  /** true: `argv[0]` is a command line for `/bin/sh -c`. */
  shell: boolean;
  argv: readonly string[];
}

export interface ResolvedRestart {
  policy: 'always' | 'on-failure' | 'never';
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  resetAfterMs: number;
  crashLoopAfter: number;
}

export interface ResolvedService {
  name: string;
  command: ResolvedCommand;
  instances: number;
  /** Front port; 0 asks for a free one; null means no proxy for this service. */
  port: number | null;
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** `env_file`, as absolute paths, in order (`<root>/.env` is read before them and is not listed). */
  envFiles: readonly string[];
  /**
   * What to watch, relative to `cwd` (`true`: all of it), and the extra ignores; null when not asked for
   * (`watch: false` or none). A list that names nothing to watch (`[]`, only `!` entries) is kept as
   * given, and watches nothing.
   */
  watch: { paths: readonly string[] | true; ignored: readonly string[] } | null;
  /** Readiness: explicit (`readiness` or `health`), or the default tcp probe when the service has a port; none otherwise. */
  health: ResolvedProbeSettings | null;
  /** Liveness: `liveness`, or the `health` shorthand; null for none. */
  liveness: ResolvedProbeSettings | null;
  dependsOn: Readonly<Record<string, DependencyCondition>>;
  restart: ResolvedRestart;
  stopTimeoutMs: number;
  startTimeoutMs: number;
  drainTimeoutMs: number;
  /** How the proxy balances this service (defaults filled in). */
  balancing: ResolvedBalancing;
  /** The runtime its instances run on (after `--runtime`, the service's and the top-level `runtime`). */
  runtime: RuntimeName;
  /** Container settings (used when `runtime` is `'container'`). */
  container: ResolvedContainer;
  /** The handler (`'fns/hello.handler'`) of a handler service, or null; `command` then runs msup's own server for it. */
  handler: string | null;
  /** Function settings (used when `runtime` is `'function'`), defaults filled in. */
  function: ResolvedFunction;
  /** Sidecar settings (used when `runtime` is `'sidecar'`). */
  sidecar: ResolvedSidecar;
  /** Memory per instance in MB, or null for no limit. */
  memoryMb: number | null;
  /** CPUs per instance, or null for no limit. */
  cpus: number | null;
}

export interface ResolvedFunction {
  profile: 'lambda' | 'knative';
  /** Requests one environment takes at once; 0 for no limit. */
  concurrency: number;
  /** Requests in flight per environment before the scaler starts another. */
  target: number;
  minInstances: number;
  maxInstances: number;
  idleTimeoutMs: number;
  scaleToZeroGraceMs: number;
  timeoutMs: number;
  initTimeoutMs: number;
  /** An environment's memory size: its heap limit, the RSS it may reach, and what is billed. */
  memoryMb: number;
  overflow: 'throttle' | 'queue';
  /** How an HTTP service's environment is known to be ready: its readiness probe (an exec probe counts as tcp). */
  readiness: { kind: 'http'; path: string } | { kind: 'tcp' };
  /** What a handler's environment runs in place of msup's bootstrap, or null. */
  bootstrap: ResolvedCommand | null;
}

export interface ResolvedContainer {
  image: string | null;
  engine: 'podman' | 'docker' | null;
  mount: 'ro' | 'rw' | false;
}

export interface ResolvedSidecar {
  retries: number;
  retryBudget: number;
  minRetriesPerSecond: number;
  /** 0: no limit. */
  timeoutMs: number;
  /** 0: no limit per try. */
  tryTimeoutMs: number;
  /** null: no circuit breaker. */
  breaker: { failures: number; ejectionMs: number; maxEjectionMs: number } | null;
  balancing: 'ewma' | 'least-request';
  mtls: 'strict' | 'permissive';
  certLifetimeMs: number;
  /** The front's `proxy.bodyTimeout`: how long a request body may pause at a sidecar before a 408 (0: no limit). */
  bodyTimeoutMs: number;
}

// --- Load balancing, resolved (issue 3) ---
export interface ResolvedBalancing {
  mode: 'http' | 'tcp';
  strategy: 'round-robin' | 'least-request';
  weights: readonly number[];
  holdTimeoutMs: number;
  maxFails: number;
  failTimeoutMs: number;
  responseTimeoutMs: number;
  /** null: the front's share of the connection budget. */
  maxConnections: number | null;
}

export interface ResolvedProxy {
  /** The shared front's port, or null when there is none. */
  port: number | null;
  host: string | null;
  routes: readonly { path?: string; host?: string; service: string; stripPrefix: boolean }[];
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  maxConnections: number | null;
}
// --- end of load balancing, resolved ---

export interface ResolvedConfig {
  /** The folder of the config file (or the given root): the project. */
  root: string;
  file: string | null;
  services: readonly ResolvedService[];
  /** The shared front and the settings of every front port. */
  proxy: ResolvedProxy;
  /** The config's admin listener, or null when it has none. */
  admin: { port: number; host: string; allowedHosts: readonly string[] } | null;
}

// The supervisor's API: what start() takes, what it reports.

/** A whole line an instance wrote. */
export interface OutputLine {
  service: string;
  index: number;
  stream: 'stdout' | 'stderr';
  line: string;
  /** Who wrote it when an instance is more than its app: `'sidecar'`, ... (absent: the app). */
  source?: string;
}

export interface StartOptions {
  /** The config file, relative to `cwd`. Without it and without `config`, msup looks for supervisor.config.* in `cwd`. */
  configFile?: string;
  /** A config object instead of a file; its paths are relative to `cwd`. */
  config?: MsupConfig;
  /** Where to look for the config, and the project folder for an inline config (default: process.cwd()). */
  cwd?: string;
  /** Resolve `start()` only once every instance is ready (default true). */
  wait?: boolean;
  /** How long `start()` waits for readiness before it fails with MSUP_START_TIMEOUT (default '60s'). */
  timeout?: Duration;
  /** The address front ports listen on (default '127.0.0.1'). */
  host?: string;
  /** Listen on the project's control socket, for `msup status` and friends (default true). */
  control?: boolean;
  /** Follow the services' `watch` settings and the config file's changes (default true). */
  watch?: boolean;
  /**
   * The restart-loop guard of watch mode: watching a service pauses when a change would make more than
   * `restarts` change-triggered restarts in a row, each asked for while the one before ran or within
   * `window` after it ended (default 5, '250ms'); past 15 within 30 s, whatever the rows.
   */
  watchLoopGuard?: { restarts?: number; window?: Duration };
  /** Run every service on this runtime, whatever the config says (`msup start --runtime NAME`). */
  runtime?: RuntimeName;
  /**
   * The admin listener (dashboard, /metrics): `true` opens it as the config's `admin` says (or on a free
   * loopback port), an object overrides the config's port, host and allowedHosts (each one given), `false`
   * keeps it closed. Default: open only when the config has `admin`.
   */
  admin?: boolean | AdminConfig;
}

export interface LogRecord {
  level: LogLevel;
  msg: string;
  time: number;
  service?: string;
  instance?: number;
  [field: string]: unknown;
}

export interface SupervisorEvents {
  /** An instance changed state or readiness. */
  instance: [InstanceInfo];
  /** A whole line an instance wrote. */
  output: [OutputLine];
  /** msup's own structured events (started, ready, exited, restarting, crash loop, ...). */
  log: [LogRecord];
  /** The admin listener listens: its URL, and the dashboard's with this run's token (once, at start). */
  admin: [{ url: string; dashboard: string }];
}

export interface ReloadResult {
  applied: boolean;
  added: string[];
  removed: string[];
  restarted: string[];
  scaled: string[];
  /** Services whose running balancer took new balancing settings (strategy, weights, timeouts, ...). */
  rebalanced: string[];
  /**
   * The shared front: null when unchanged; `updated` (routes or timeout, in place), `moved` (to a new
   * port or host), `added`, `removed`, or `failed` (the new port could not be bound; the old front stays).
   */
  sharedFront: 'updated' | 'moved' | 'added' | 'removed' | 'failed' | null;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RolloutResult {
  service: string;
  /** Indexes replaced, in order. */
  restarted: number[];
  /** The instance whose replacement never became ready; the rollout stopped there and kept the old one. */
  failed: { index: number; reason: string } | null;
}

// --- Metrics (issue 12): what /metrics and the dashboard show, in a neutral shape ---
/** One value of a counter or gauge, with its labels. */
export interface MetricSample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** One histogram: observations per bucket (not cumulative), the last one above every bound (+Inf). */
export interface HistogramSample {
  labels: Readonly<Record<string, string>>;
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[];
  /** `bounds.length + 1` counts. */
  counts: ArrayLike<number>;
  sum: number;
}

/** A metric family as Prometheus names and types it (`msup_http_responses_total`, counter, ...). */
export type MetricFamily =
  | { name: string; help: string; type: 'counter' | 'gauge'; samples: readonly MetricSample[] }
  | { name: string; help: string; type: 'histogram'; samples: readonly HistogramSample[] };
