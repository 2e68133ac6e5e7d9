// The one place that wires config → runtime → services → health → proxy, and owns start and stop order.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { parseDuration } from './config/duration.js';
import { loadConfigFile, prepareConfig } from './config/load.js';
import { controlSocketPath, type StatusV1 } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { buildStatus, type UsageSample } from './control/status.js';
import { MsupError } from './errors.js';
import { startMonitor } from './health/monitor.js';
import { ServiceProxy } from './proxy/server.js';
import { PortAllocator } from './runtime/ports.js';
import { groupUsage } from './runtime/proc.js';
import { ProcessRuntime } from './runtime/process.js';
import { failed } from './service/restart-policy.js';
import {
  describeExit,
  type LogLevel,
  type RolloutResult,
  Service,
  type ServiceEvent,
} from './service/service.js';
import type {
  Duration,
  InstanceInfo,
  MsupConfig,
  OutputLine,
  ResolvedConfig,
  Runtime,
  ServiceInfo,
} from './types.js';

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
}

const DEFAULT_START_TIMEOUT_MS = 60_000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: StartOptions;
  #config: ResolvedConfig | undefined;
  #runtime: (Runtime & { close(): Promise<void> }) | undefined;
  readonly #services = new Map<string, Service>();
  readonly #proxies = new Map<string, { proxy: ServiceProxy; port: number }>();
  #started = false;
  #stopping: Promise<void> | undefined;
  #abortWait: ((error: Error) => void) | undefined;
  #control: ControlServer | undefined;
  #startedAt = Date.now();
  #markStopped: () => void = () => {};
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = resolve;
  });

  constructor(options: StartOptions = {}) {
    super();
    this.#options = options;
  }

  get config(): ResolvedConfig {
    if (!this.#config) throw new MsupError('MSUP_STOPPED', 'the supervisor has not been started');
    return this.#config;
  }

  #log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('log', { level, msg, time: Date.now(), ...fields });
  }

  /** Loads the config, binds the front ports, starts every instance and (by default) waits until all are ready. */
  async start(): Promise<this> {
    if (this.#started) throw new MsupError('MSUP_STOPPED', 'start() was already called on this supervisor');
    this.#started = true;
    const options = this.#options;
    const cwd = path.resolve(options.cwd ?? process.cwd());
    const config = options.config
      ? prepareConfig(options.config, cwd, null)
      : await loadConfigFile({ cwd, ...(options.configFile ? { configFile: options.configFile } : {}) });
    this.#config = config;

    const { runtime, reaped } = await ProcessRuntime.open(path.join(config.root, '.msup'));
    this.#runtime = runtime;
    for (const left of reaped) {
      this.#log('warn', 'reaped a leftover process group from a crashed run', {
        ...left,
        instance: left.index,
      });
    }

    try {
      for (const service of config.services) {
        if (service.port === null) continue;
        const proxy = new ServiceProxy(service.name);
        this.#proxies.set(service.name, { proxy, port: service.port });
        const port = await proxy.listen(service.port, options.host);
        this.#proxies.set(service.name, { proxy, port });
      }
    } catch (error) {
      await this.stop();
      throw error;
    }

    if (options.control !== false) {
      try {
        this.#control = await ControlServer.open(controlSocketPath(config.root), this.#controlHandler());
      } catch (error) {
        await this.stop();
        throw error;
      }
    }

    const ports = new PortAllocator();
    for (const service of config.services) {
      const proxy = this.#proxies.get(service.name)?.proxy;
      this.#services.set(
        service.name,
        new Service(service, {
          runtime,
          ports,
          monitor: startMonitor,
          environment: () => process.env,
          drain: (key, timeoutMs) => {
            const draining = proxy as unknown as
              | { drain?(key: string, ms: number): Promise<void> }
              | undefined;
            return draining?.drain ? draining.drain(key, timeoutMs) : Promise.resolve();
          },
          random: Math.random,
          onOutput: (line) => this.emit('output', line),
          onEvent: (event) => this.#onServiceEvent(event, proxy),
        }),
      );
    }
    for (const service of this.#services.values()) {
      const front = this.#proxies.get(service.name);
      this.#log('info', 'starting', {
        service: service.name,
        instances: service.config.instances,
        ...(front ? { url: this.url(service.name) } : {}),
      });
      service.start();
    }

    if (options.wait !== false) {
      try {
        await this.#waitUntilReady(parseDuration(options.timeout) ?? DEFAULT_START_TIMEOUT_MS);
      } catch (error) {
        await this.stop();
        throw error;
      }
    }
    return this;
  }

  #onServiceEvent(event: ServiceEvent, proxy: ServiceProxy | undefined): void {
    switch (event.type) {
      case 'log':
        this.#log(event.level, event.msg, event.fields);
        return;
      case 'instance':
        this.emit('instance', event.instance);
        return;
      case 'ready':
        proxy?.add(event.key, event.label, event.port);
        return;
      case 'unready':
        proxy?.remove(event.key);
        return;
      case 'gone':
        proxy?.forget(event.key);
        return;
    }
  }

  /** Why a service cannot start, or undefined while it still may. */
  #startFailure(service: Service): MsupError | undefined {
    const broken = service
      .instances()
      .find((i) => i.state === 'crash-loop' || (i.state === 'exited' && i.lastExit && failed(i.lastExit)));
    if (!broken?.lastExit) return undefined;
    const tail = service.stderrTail().slice(-10);
    const why = broken.state === 'crash-loop' ? ` after ${broken.restarts + 1} attempts (crash loop)` : '';
    const stderr = tail.length ? `\nlast stderr:\n${tail.map((l) => `  ${l}`).join('\n')}` : '';
    return new MsupError(
      'MSUP_START_FAILED',
      `service "${service.name}" could not start: ${service.name}#${broken.index} ${describeExit(broken.lastExit)}${why}${stderr}`,
      { service: service.name },
    );
  }

  #allReady(): boolean {
    for (const service of this.#services.values()) {
      for (const i of service.instances()) {
        const done = i.state === 'exited' && i.lastExit !== null && !failed(i.lastExit);
        if (!i.ready && !done) return false;
      }
    }
    return true;
  }

  #waitUntilReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.off('instance', check);
        this.#abortWait = undefined;
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        for (const service of this.#services.values()) {
          const failure = this.#startFailure(service);
          if (failure) return finish(failure);
        }
        if (this.#allReady()) finish();
      };
      const timer = setTimeout(() => {
        const waiting = [...this.#services.values()]
          .map(
            (s) => `${s.name} (${s.instances().filter((i) => i.ready).length}/${s.config.instances} ready)`,
          )
          .join(', ');
        finish(
          new MsupError(
            'MSUP_START_TIMEOUT',
            `not every instance was ready after ${timeoutMs}ms: ${waiting}`,
          ),
        );
      }, timeoutMs);
      this.#abortWait = finish;
      this.on('instance', check);
      check();
    });
  }

  #service(name: string): Service {
    const service = this.#services.get(name);
    if (!service) {
      const known = [...this.#services.keys()].join(', ') || 'none';
      throw new MsupError('MSUP_UNKNOWN_SERVICE', `no service "${name}" (services: ${known})`, {
        service: name,
      });
    }
    return service;
  }

  /** The front URL of a service, e.g. http://127.0.0.1:8080. */
  url(name: string): string {
    this.#service(name);
    const front = this.#proxies.get(name);
    if (!front) {
      throw new MsupError('MSUP_UNKNOWN_SERVICE', `service "${name}" has no port, so it has no URL`, {
        service: name,
      });
    }
    const given = this.#options.host;
    const host = given && given !== '0.0.0.0' && given !== '::' ? given : '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${front.port}`;
  }

  instances(name: string): InstanceInfo[] {
    return this.#service(name).instances();
  }

  services(): ServiceInfo[] {
    return [...this.#services.values()].map((s) => ({
      name: s.name,
      instances: s.instances(),
      url: this.#proxies.has(s.name) ? this.url(s.name) : null,
      stderrTail: s.stderrTail(),
    }));
  }

  /** Resolves once the supervisor has stopped, whoever stopped it (Ctrl-C, `msup stop`, the API). */
  whenStopped(): Promise<void> {
    return this.#stopped;
  }

  /**
   * Rolling restart of one service, or of all in config order: each instance is replaced by a new
   * one that is ready before the old one leaves rotation, drains and stops. Rejects with
   * MSUP_RESTART_FAILED (the old instance kept) when a replacement never becomes ready.
   */
  async restart(name?: string, options: { readyTimeout?: Duration } = {}): Promise<RolloutResult[]> {
    const targets = name === undefined ? [...this.#services.values()] : [this.#service(name)];
    const readyTimeoutMs = parseDuration(options.readyTimeout) ?? DEFAULT_START_TIMEOUT_MS;
    const results: RolloutResult[] = [];
    for (const service of targets) {
      this.#log('info', 'rolling restart', { service: service.name });
      const result = await service.restart({ readyTimeoutMs });
      results.push(result);
      if (result.failed) {
        throw new MsupError(
          'MSUP_RESTART_FAILED',
          `rolling restart of "${service.name}" stopped at ${service.name}#${result.failed.index}: ${result.failed.reason}; the old instance keeps serving`,
          { service: service.name },
        );
      }
    }
    return results;
  }

  /** Changes how many instances a service runs; scaling down drains the leaving instances first. */
  async scale(name: string, count: number): Promise<void> {
    const service = this.#service(name);
    if (!Number.isInteger(count) || count < 1) {
      throw new MsupError('MSUP_USAGE', `scale ${name}: expected a positive integer, got ${count}`, {
        service: name,
      });
    }
    this.#log('info', 'scaling', { service: name, from: service.instances().length, to: count });
    await service.scale(count);
  }

  /** A snapshot for `msup status`: instances with uptime, CPU (sampled over `sampleMs`) and memory. */
  async status(sampleMs = 100): Promise<StatusV1> {
    const sample = async (): Promise<UsageSample> => {
      const pids = this.services().flatMap((s) =>
        s.instances.map((i) => i.pid).filter((p): p is number => p !== null),
      );
      return { usage: await groupUsage(pids), at: Date.now() };
    };
    const before = await sample();
    await new Promise((r) => setTimeout(r, sampleMs));
    const after = await sample();
    const meta = {
      project: this.config.root,
      configFile: this.config.file,
      pid: process.pid,
      startedAt: this.#startedAt,
    };
    return buildStatus(meta, this.services(), before, after);
  }

  #controlHandler() {
    return {
      status: () => this.status(),
      restart: (service: string | undefined) => this.restart(service),
      scale: async (counts: Record<string, number>) => {
        for (const name of Object.keys(counts)) this.#service(name);
        await Promise.all(Object.entries(counts).map(([name, count]) => this.scale(name, count)));
        return this.services().map((s) => ({ name: s.name, instances: s.instances.length }));
      },
      stop: () => this.stop(),
      follow: (service: string | undefined, send: (record: unknown) => void) => {
        if (service !== undefined) this.#service(service);
        const listener = (line: OutputLine) => {
          if (service === undefined || line.service === service)
            send({ time: new Date().toISOString(), ...line });
        };
        this.on('output', listener);
        return () => this.off('output', listener);
      },
    };
  }

  /** Stops everything gracefully; resolves once every child process is gone. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** A forced stop: SIGKILL every instance now, then finish stopping. */
  kill(): Promise<void> {
    for (const service of this.#services.values()) service.kill();
    return this.stop();
  }

  async #stop(): Promise<void> {
    this.#abortWait?.(new MsupError('MSUP_STOPPED', 'stopped before every instance was ready'));
    for (const { proxy } of this.#proxies.values()) proxy.beginClose();
    await Promise.all([...this.#services.values()].map((s) => s.stop()));
    await Promise.all([...this.#proxies.values()].map(({ proxy }) => proxy.close()));
    await this.#runtime?.close();
    await this.#control?.close();
    if (this.#services.size > 0) this.#log('info', 'stopped');
    this.#markStopped();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Creates a supervisor without starting it, so listeners can be attached first. */
export function createSupervisor(options: StartOptions = {}): Supervisor {
  return new Supervisor(options);
}

/** Starts msup: resolves once every instance is ready, rejects with a coded error (having stopped everything) otherwise. */
export function start(options: StartOptions = {}): Promise<Supervisor> {
  return new Supervisor(options).start();
}
