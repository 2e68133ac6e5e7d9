// The runtime contract: what the supervisor needs from a runtime (processes, containers, functions,
// sidecars) and what it gives one. The supervisor, the balancer and the probes see an instance's id and
// endpoint, never which runtime runs it. ARCHITECTURE.md walks through writing a runtime.
import type { UpstreamPool } from './proxy/upstream-pool.js';
import type {
  ExitInfo,
  LogLevel,
  MetricFamily,
  OutputLine,
  ResolvedCommand,
  ResolvedService,
  RuntimeName,
} from './types.js';

/** Where an instance serves: the proxy and the probes connect here. */
export interface Endpoint {
  host: string;
  port: number;
  /**
   * Set by a runtime that serves the instance in msup's own process (a handler function's gateway): the
   * front hands requests to it directly instead of connecting to `port` (which still serves probes and
   * every other caller).
   */
  inProcess?: UpstreamPool;
  /**
   * Set by the sidecar runtime: msup's own sidecar answers here, so a 503 with x-msup-not-forwarded from
   * it means the app never got the request. From any other endpoint that header is the app's own.
   */
  sidecar?: boolean;
}

export interface InstanceSpec {
  /** The service's settings, its runtime's own included (`container`, ...). */
  service: ResolvedService;
  index: number;
  /** The instance count at launch (`MSUP_INSTANCES`). */
  instances: number;
  /**
   * The environment, complete but for `PORT`: a runtime that gives the instance a port sets `PORT` to
   * the port the app listens on (a service without `port` and without a route gets one all the same).
   */
  env: Readonly<Record<string, string>>;
  /**
   * The services this instance may call, each with the variable of `env` that holds its address
   * (`{ api: 'MSUP_API_URL' }`, the front URL): a runtime that routes between services (a sidecar)
   * points them at itself.
   */
  peers?: Readonly<Record<string, string>>;
}

/** How a command run where the instance runs ended (exec probes). */
export interface CommandResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Set when it could not be run at all, or something else than its own end ended it. */
  error?: string;
  /**
   * The error's code where the runtime knows it (`EAGAIN`: it could not start a process), or null where it
   * knows the error has none: what a probe takes a shortage of msup's from. Absent: the last `E…` word of
   * `error`, as Node words a spawn's failure (`spawn sh EMFILE`).
   */
  errorCode?: string | null;
  /**
   * What it wrote last, stdout and stderr (at least its last few hundred bytes, after `…` where the process
   * runtime left some out; msup shows 300 characters
   * at most, on one line, its control characters escaped): shown beside a failed probe's exit code, its
   * timeout, or an `error` that something else ended it (the engine's command killed), never read for a
   * reason.
   */
  output?: string;
}

export interface Usage {
  /** CPU time used so far by everything the instance runs, in milliseconds. */
  cpuMs: number;
  /** Resident memory of everything the instance runs, in bytes. */
  rssBytes: number;
}

export interface RunningInstance {
  /** Unique among the runtime's instances of this run: `p4242`, a container's name, ... */
  readonly id: string;
  /** The host pid of its main process, where there is one (shown in status; never used to signal it). */
  readonly pid: number | null;
  /** Where it serves, or null when it has no port. */
  readonly endpoint: Endpoint | null;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Resolves the moment the instance ends (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Ends the instance and everything it started: a polite stop, then a forced one after `timeoutMs`. Idempotent. */
  stop(timeoutMs: number): Promise<void>;
  /** Ends everything the instance started, now (a forced stop). */
  kill(): void;
  /**
   * Runs a command where the instance runs (its cwd and environment; inside its container, ...). A command
   * that could not run is best told in `error`; a rejection is taken the same way (an exec probe fails
   * with its message).
   */
  exec(
    command: ResolvedCommand,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<CommandResult>;
  /** What the runtime can say of it beyond the common fields (environments, cold starts, ...): in status. */
  details?(): Record<string, unknown>;
  /**
   * Its own metrics (cold starts, environments, per-hop figures), for /metrics and the dashboard. The
   * supervisor adds the `service` and `instance` labels, and leaves out a family whose name or labels
   * are not valid Prometheus names, that uses `service` or `instance` itself, or whose name msup uses.
   * Called at each scrape (and each second while a dashboard is open): keep it cheap.
   */
  metrics?(): MetricFamily[];
}

/** What a runtime asks the supervisor to remember in the project's state file while an instance lives. */
export interface Remembered {
  runtime: string;
  service: string;
  index: number;
  /** The runtime's own record: a process group and its start time, a container's name, ... */
  data: Record<string, unknown>;
}

/** What a runtime reaped of a crashed run. */
export interface Reaped {
  service: string;
  index: number;
  /** What it was, in words: `process group 4242 (2 processes)`, `container msup-...`. */
  what: string;
}

/** What the supervisor gives a runtime. */
export interface RuntimeHost {
  /** The project folder. */
  readonly root: string;
  /** `<root>/.msup`: the project's own state. */
  readonly stateDir: string;
  /** A short, stable id of the project (labels, names). */
  readonly project: string;
  /** Free loopback ports; a runtime takes as many as an instance needs and releases them when it ends. */
  readonly ports: { allocate(): Promise<number>; release(port: number): void };
  /** Kept in the project's state file until the returned function is called, so a next start can reap it. */
  remember(entry: Remembered): () => void;
  /**
   * Ends this if msup dies without stopping (SIGKILL, crash): a process group, or a command to run
   * (`podman rm -f NAME`). A group `afterCommands` is ended only once the commands ran (a container
   * engine's API service, which they need alive). Returns the function that takes it back.
   */
  guard(what: { group: number; afterCommands?: boolean } | { command: readonly string[] }): () => void;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** Where each service's ready instances are, as the proxy sees them (a sidecar balances over its peers). */
  readonly directory: Directory;
}

export interface Directory {
  /** The endpoints of a service's instances in rotation now (empty for an unknown service). */
  endpoints(service: string): Endpoint[];
  /** Called with a service's name whenever its endpoints change; returns the function that unsubscribes. */
  onChange(listener: (service: string) => void): () => void;
}

export interface Runtime {
  readonly name: RuntimeName;
  /**
   * Gets a service ready to launch (an image built, ...). Called at start and before a rolling restart;
   * may be slow, reports progress through the host's log; rejects with a coded error.
   */
  prepare?(service: ResolvedService): Promise<void>;
  /**
   * Rejects with a coded error when the service cannot run here (no container engine); quick (no build).
   * Called at start before any listener opens, so a run that cannot start hands out no dashboard URL.
   */
  check?(service: ResolvedService): Promise<void>;
  /** Launches an instance. Whatever it throws (or rejects with) is an early exit with that reason. */
  start(spec: InstanceSpec, onOutput: (line: OutputLine) => void): Promise<RunningInstance>;
  /** CPU and memory of running instances, by instance id (missing: unknown). */
  usage(instances: readonly RunningInstance[]): Promise<Map<string, Usage>>;
  /** Called once every instance has been stopped. */
  close(): Promise<void>;
}

/** A runtime as the supervisor finds it by name: opens it for a project, and reaps a crashed run's leftovers. */
export interface RuntimePlugin {
  readonly name: RuntimeName;
  /**
   * Fits a resolved service to this runtime before anything runs (a function service is one gateway
   * instance, whatever `instances` says). Pure; without it the service runs as resolved.
   */
  adjust?(service: ResolvedService): ResolvedService;
  /**
   * The settings a service gives that this runtime does not apply (`memory` for processes), as config
   * paths below the service (`memory`, `container.image`): msup warns about each at start and reload.
   */
  unused?(service: ResolvedService): string[];
  /** Rejects with a coded error when it cannot run here (no container engine, ...): nothing is started. */
  open(host: RuntimeHost): Promise<Runtime>;
  /** Ends what a crashed run of this runtime left: the entries it remembered (and what it can find itself). */
  reap(entries: readonly Remembered[], host: RuntimeHost): Promise<Reaped[]>;
}
