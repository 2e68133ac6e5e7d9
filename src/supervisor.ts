// The one place that wires config → runtime → services → health → proxy → control → watch, and
// owns start, reload and stop order.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { AdminServer } from './admin/server.js';
import { adminPortProblem } from './config/admin-port.js';
import { stopWaves } from './config/dependencies.js';
import { type EnvFileReads, readEnvFiles } from './config/env-file.js';
import { loadConfigIsolated } from './config/load-isolated.js';
import { didYouMean } from './config/nearest.js';
import type { RunningInstance, Runtime } from './contract.js';
import { controlHandler } from './control/handler.js';
import type { StatusV1 } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { buildStatus, type UsageSample } from './control/status.js';
import { isMsupError, MsupError } from './errors.js';
import { startMonitor } from './health/monitor.js';
import { MAX_INSTANCES } from './limits.js';
import { LogFiles } from './log/files.js';
import type { InstanceFamilies, ProxyView } from './metrics/families.js';
import { buildFamilies } from './metrics/runtime-families.js';
import { privateDir } from './private-files.js';
import { Fronts } from './proxy/fronts.js';
import type { InstanceCounters } from './proxy/members.js';
import type { ServiceProxy } from './proxy/server.js';
import { applyConfig, emptyReloadResult } from './reload.js';
import { adjustConfig, Runtimes, unusedSettings } from './runtimes.js';
import { EndpointDirectory } from './service/directory.js';
import { Service, type ServiceEvent } from './service/service.js';
import { waitUntilStarted, whenDependenciesMet } from './service/start-gates.js';
import { startVerdict } from './service/start-verdict.js';
import { checkCwd, checkServiceName, checkStartOptions, durationOption, show } from './start-options.js';
import type {
  Duration,
  InstanceInfo,
  LogLevel,
  MetricFamily,
  MsupConfig,
  ReloadResult,
  ResolvedConfig,
  ResolvedService,
  RolloutResult,
  ServiceInfo,
  StartOptions,
  SupervisorEvents,
} from './types.js';
import type { LoopGuardOptions } from './watch/loop-guard.js';
import { watchWarning } from './watch/patterns.js';
import { WatchSet } from './watch/watch-set.js';
import { LINK_SKIP_REASONS } from './watch/watcher.js';

const DEFAULT_START_TIMEOUT_MS = 60_000;

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: StartOptions;
  #config: ResolvedConfig | undefined;
  #runtimes: Runtimes | undefined;
  /** The runtimes opened so far, by name: a service is created only once its runtime is here. */
  readonly #runtime = new Map<string, Runtime>();
  readonly #services = new Map<string, Service>();
  /** Services waiting for their dependencies, and how to check those again. */
  readonly #dependencyChecks = new Map<Service, () => void>();
  /** Services a reload stopped: removed from the config, or replaced by a new one of that name (a new port). */
  readonly #reloaded = new WeakMap<Service, 'removed' | 'replaced'>();
  readonly #directory = new EndpointDirectory();
  readonly #fronts: Fronts;
  #started = false;
  #stopping: Promise<void> | undefined;
  #abortWait: ((error: Error) => void) | undefined;
  /** Ends a config load under way (the start's or a reload's) when msup stops: a config may never answer. */
  readonly #loading = new AbortController();
  #control: ControlServer | undefined;
  #admin: AdminServer | undefined;
  /** Problems with runtimes' metric families already logged (each once). */
  readonly #metricProblems = new Set<string>();
  #logFiles: LogFiles | undefined;
  /** The log files, kept after the stop (`unwrittenLines()`). */
  #logFilesMade: LogFiles | undefined;
  #watching: WatchSet | undefined;
  /** Serialises reloads, and coalesces watch-triggered restarts per service. */
  #reloads: Promise<unknown> = Promise.resolve();
  readonly #restartQueued = new Set<string>();
  readonly #missingEnvFiles = new Set<string>();
  /** Each env file as last read without a malformed line: what a launch uses when an edit broke one. */
  readonly #envFileReads: EnvFileReads = new Map();
  readonly #startedAt = Date.now();
  /** Settles once start() has returned or, having failed, closed what it opened (a stop() waits for it). */
  #startDone: Promise<void> = Promise.resolve();
  #startSettled: () => void = () => {};
  /** What stop() answers: the stop, then what start() closes after it when the stop landed while starting. */
  #stopDone: Promise<void> | undefined;
  #loggedStopped = false;
  /** The run is over (stopped, or its start failed): what a call made now is told. */
  #over = false;
  #markStopped: () => void = () => {};
  readonly #stopped = new Promise<void>((resolve) => {
    this.#markStopped = () => {
      this.#over = true;
      resolve();
    };
  });

  constructor(options: StartOptions = {}) {
    super();
    // Every `logs -f` follower, the dashboard and every service waiting on its dependencies listens here,
    // and each removes its listener when done: no count of them is a leak.
    this.setMaxListeners(0);
    this.#options = options;
    // Refused connections and failed accepts at the fronts are msup events (rate-limited there).
    this.#fronts = new Fronts(options.host, (level, msg, fields) => this.#log(level, msg, fields));
  }

  get config(): ResolvedConfig {
    if (!this.#config) throw new MsupError('MSUP_STOPPED', 'the supervisor has not been started');
    return this.#config;
  }

  #log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    const record = { level, msg, time: Date.now(), ...fields };
    this.#logFiles?.event(record);
    this.emit('log', record);
  }

  /** Loads the config, binds the front ports, starts every instance and (by default) waits until all are ready. */
  async start(): Promise<this> {
    if (this.#started) throw new MsupError('MSUP_STOPPED', 'start() was already called on this supervisor');
    this.#started = true;
    const options = this.#options;
    let cwd: string;
    try {
      // A value given but not valid is refused before anything starts (never a default instead).
      checkStartOptions(options);
      cwd = path.resolve(options.cwd ?? process.cwd());
      checkCwd(cwd);
    } catch (error) {
      // Nothing was opened; the run is over, as after any failed start (whenStopped() settles).
      this.#markStopped();
      throw error;
    }
    this.#startDone = new Promise((resolve) => {
      this.#startSettled = resolve;
    });
    // A stop() that lands while starting wins: what was opened so far is closed, and start() rejects.
    const stillStarting = () => {
      if (this.#stopping) throw new MsupError('MSUP_STOPPED', 'stopped while starting');
    };
    try {
      const loaded = options.config
        ? await this.#prepare(options.config, cwd)
        : await loadConfigIsolated({
            cwd,
            runtime: options.runtime,
            signal: this.#loading.signal,
            ...(options.configFile !== undefined ? { configFile: options.configFile } : {}),
          });
      const config = adjustConfig(loaded);
      this.#config = config;
      this.#warnUnused(config);
      this.#checkAdminPort(config);
      stillStarting();
      // .msup holds the services' output, the state and the control socket: for this user only (0700).
      privateDir(path.join(config.root, '.msup'));
      this.#runtimes = await Runtimes.open(
        config.root,
        (level, msg, fields) => this.#log(level, msg, fields),
        this.#directory,
      );
      const logFiles = new LogFiles(path.join(config.root, '.msup', 'logs'), {
        onError: (error) =>
          this.emit('log', { level: 'warn', msg: 'log file error', time: Date.now(), error: error.message }),
        // The disk took less than a service wrote, or the file failed (a full disk): in msup.log too, where
        // `msup logs` shows the gap.
        onDropped: (log, lines, why) =>
          this.#log(
            'warn',
            why === 'failed' ? 'log file error: lines not written' : 'log file behind: lines not written',
            { file: `${log}.log`, lines },
          ),
      });
      this.#logFiles = logFiles;
      this.#logFilesMade = logFiles;
      for (const service of config.services) {
        if (options.runtime && service.runtime !== options.runtime) {
          this.#log(
            'info',
            service.balancing.mode === 'tcp'
              ? `not run as ${options.runtime}: a function is invoked over HTTP, and this service is in tcp mode`
              : `not run as ${options.runtime}: a function is invoked over HTTP, and this service has no port and no route`,
            {
              service: service.name,
              runtime: service.runtime,
            },
          );
        }
      }
      const using = [...new Set(config.services.map((s) => s.runtime))];
      for (const left of await this.#runtimes.reap(using)) {
        this.#log('warn', 'reaped a leftover of a crashed run', {
          service: left.service,
          instance: left.index,
          what: left.what,
        });
      }
      stillStarting();
      // Every runtime the config uses must be able to run here before anything starts.
      await this.#openRuntimes(config);
      // Quick checks (a container engine) before a port, the control socket or the dashboard opens.
      await Promise.all(
        config.services.map((service) => this.#runtime.get(service.runtime)?.check?.(service)),
      );
      stillStarting();
      // Every front port is bound before any instance starts: a port in use starts nothing.
      for (const service of config.services) {
        await this.#fronts.bindService(service, config);
        stillStarting();
      }
      await this.#fronts.bindShared(config);
      stillStarting();
      if (options.control !== false) {
        this.#control = await ControlServer.open(config.root, controlHandler(this, logFiles), (error) =>
          this.#log('warn', 'control socket: a connection could not be accepted', { error: error.message }),
        );
        stillStarting();
      }
      await this.#openAdmin(config);
      stillStarting();
      // Images and the like, before any instance starts (a failure starts nothing).
      await this.#prepareAll(config.services);
      stillStarting();
      // Every service exists from the start (so status shows it); each starts once its dependsOn is met.
      for (const service of config.services) this.#createService(service);
      // Watching is ready before the first launch: what an instance changes as it starts is a change
      // (a watcher still scanning would take such a file for one that was already there).
      if (options.watch !== false) await this.#watch(config);
      stillStarting();
      for (const service of config.services) this.#startWhenDependenciesMet(service.name);
      if (options.wait !== false) {
        await this.#waitUntilReady(durationOption('timeout', options.timeout) ?? DEFAULT_START_TIMEOUT_MS);
      }
    } catch (error) {
      const stoppedMeanwhile = this.#stopping !== undefined;
      this.#stopping ??= this.#stop();
      await this.#stopping;
      // The stop already ran; close what this start opened after it (quietly: what that stop stopped
      // says nothing twice). stop() waits for this pass too.
      if (stoppedMeanwhile) await this.#stop();
      this.#markStopped();
      throw error;
    } finally {
      this.#startSettled();
    }
    return this;
  }

  /** A config given as an object: validated and resolved as a file's is, its folders checked. */
  async #prepare(raw: MsupConfig, cwd: string): Promise<ResolvedConfig> {
    const { checkFolders, prepareConfig } = await import('./config/load.js');
    return checkFolders(prepareConfig(raw, cwd, null, { runtime: this.#options.runtime }));
  }

  /**
   * The `admin` option's port (`msup start --admin PORT`) gets the check the config's `admin.port` gets
   * (validate.ts): one of the fronts' ports would fail to bind as if another program held it.
   */
  #checkAdminPort(config: ResolvedConfig): void {
    const asked = this.#options.admin;
    if (typeof asked !== 'object' || asked.port === undefined) return;
    const problem = adminPortProblem(
      asked.port,
      config.services.map((s) => [s.name, s.port] as const),
      config.proxy.port,
      asked.host,
      this.#options.host,
    );
    if (problem === undefined) return;
    const issue = { path: 'admin.port', message: problem };
    throw new MsupError(
      'MSUP_CONFIG_INVALID',
      `the admin listener's port (--admin, or the admin option) cannot be ${asked.port}: ${problem}`,
      { issues: [issue] },
    );
  }

  /** The admin listener (dashboard, /metrics), when the config's `admin` or the `admin` option asks for it. */
  async #openAdmin(config: ResolvedConfig): Promise<void> {
    const asked = this.#options.admin;
    if (asked === false || (asked === undefined && config.admin === null)) return;
    const given = typeof asked === 'object' ? asked : {};
    const { AdminServer } = await import('./admin/server.js');
    this.#admin = await AdminServer.open(this, {
      host: given.host ?? config.admin?.host ?? '127.0.0.1',
      port: given.port ?? config.admin?.port ?? 0,
      allowedHosts: given.allowedHosts ?? config.admin?.allowedHosts ?? [],
      log: (level, msg, fields) => this.#log(level, msg, fields),
    });
    const url = this.#admin.url;
    this.#log('info', `admin listener at ${url} (the dashboard, and /metrics)`, {
      url,
      metrics: `${url}metrics`,
    });
    this.emit('admin', { url, dashboard: this.#admin.dashboardUrl });
  }

  /**
   * The dashboard's URL with this run's token (actions need it), or null without an admin listener.
   * The token is in the fragment (`#token=`), which a browser never sends to a server.
   */
  adminUrl(): string | null {
    return this.#admin?.dashboardUrl ?? null;
  }

  /**
   * Every metric family, as /metrics renders it and the dashboard reads it: instance state, readiness,
   * restarts, CPU and memory; the proxy's answers, durations, attempts, retries, ejections and held
   * requests; then what each instance's runtime adds (`RunningInstance.metrics`).
   */
  async metrics(): Promise<MetricFamily[]> {
    const byRuntime = new Map<string, RunningInstance[]>();
    const runtimes: InstanceFamilies[] = [];
    const problems: string[] = [];
    for (const service of this.#services.values()) {
      for (const { runtime, run, index } of service.running()) {
        const list = byRuntime.get(runtime);
        if (list) list.push(run);
        else byRuntime.set(runtime, [run]);
        if (!run.metrics) continue;
        try {
          runtimes.push({ service: service.name, index, families: run.metrics() });
        } catch (error) {
          problems.push(`${service.name}#${index}: its metrics failed: ${(error as Error).message}`);
        }
      }
    }
    const usage = (await this.#runtimes?.usage(byRuntime)) ?? new Map();
    const services = [...this.#services.values()].map((s) => ({
      name: s.name,
      instances: s.instances(),
      proxy: this.#proxyView(s.name),
    }));
    const built = buildFamilies({ services, usage, runtimes });
    for (const problem of [...problems, ...built.problems]) {
      if (this.#metricProblems.has(problem)) continue;
      this.#metricProblems.add(problem);
      this.#log('warn', 'a runtime metric was left out', { problem });
    }
    return built.families;
  }

  #proxyView(name: string): ProxyView | undefined {
    const proxy = this.#fronts.of(name);
    if (!proxy) return undefined;
    return {
      counters: proxy.stats(),
      answers: proxy.metrics.instances(),
      own: proxy.metrics.ownAnswers(),
      held: proxy.metrics.held,
      heldNow: proxy.heldNow,
    };
  }

  /**
   * The proxy's counters for a service, by instance index: in flight, requests, errors, retries,
   * ejections, and whether passive ejection has the instance out now. Empty for a service without a proxy.
   */
  proxyStats(name: string): Record<number, InstanceCounters> {
    this.#service(name, 'proxyStats');
    return this.#fronts.stats(name);
  }

  /**
   * How many lines (the services' output and msup's own events) the log files in `.msup/logs` did not get
   * since the start: dropped behind a disk slower than the output, or lost to a file that failed (a full
   * disk). Counted as they are lost; see `logFilesWritten()`.
   */
  unwrittenLines(): number {
    return this.#logFilesMade?.notWritten ?? 0;
  }

  /**
   * Resolves once every line logged before the call is in its log file, or counted in `unwrittenLines()`: to
   * how many of those lines (since the start) the log files did not get. A line logged after the call and
   * lost meanwhile is not among them (`unwrittenLines()` then counts it already).
   */
  async logFilesWritten(): Promise<number> {
    return (await this.#logFilesMade?.settled()) ?? 0;
  }

  /** The shared front's URL (`proxy.port` in the config), or null without one. */
  proxyUrl(): string | null {
    return this.#fronts.sharedUrl();
  }

  #environment(service: ResolvedService): Record<string, string | undefined> {
    const { env, missing, invalid, malformed, kept } = readEnvFiles(
      this.config.root,
      service.envFiles,
      this.#envFileReads,
    );
    for (const file of missing) {
      if (this.#missingEnvFiles.has(file)) continue;
      this.#missingEnvFiles.add(file);
      this.#log('warn', 'env_file not found', { service: service.name, file });
    }
    for (const { file, key } of invalid) {
      this.#log('warn', 'env file value left out: it contains a NUL byte', {
        service: service.name,
        file,
        key,
      });
    }
    // Checked at load and reload only, so a line broken by a later edit is named here, at each launch that
    // reads it (the line itself is not shown: it may hold a secret).
    for (const { file, line } of malformed) {
      this.#log(
        'warn',
        kept.includes(file)
          ? `${file}:${line}: not KEY=value; the file as last read without it is used`
          : `${file}:${line}: not KEY=value; the line is left out`,
        { service: service.name, file, line },
      );
    }
    return { ...process.env, ...env };
  }

  /**
   * Each service's address for the others (`MSUP_<NAME>_URL`): its front, `http://` or `tcp://` by mode.
   * A runtime that routes between services (sidecar) points the HTTP ones at itself.
   */
  #urls(): Record<string, string> {
    const urls: Record<string, string> = {};
    for (const service of this.config.services) {
      const url = this.#fronts.url(service.name);
      if (url) urls[service.name] = service.balancing.mode === 'tcp' ? url.replace(/^http:/, 'tcp:') : url;
    }
    return urls;
  }

  #startService(config: ResolvedService): void {
    this.#createService(config);
    this.#startWhenDependenciesMet(config.name);
  }

  /**
   * Settings given to no effect, named at start and at each reload: one the service's runtime does not
   * apply (kept, for re-targeting), and a `watch` list that names nothing to watch (when watching is on:
   * under --no-watch no list restarts anything, as asked).
   */
  #warnUnused(config: ResolvedConfig): void {
    for (const { path: key, runtime } of unusedSettings(config)) {
      this.#log('warn', `${key} does not apply to the ${runtime} runtime`, { setting: key, runtime });
    }
    if (this.#options.watch === false) return;
    for (const service of config.services) {
      const warning = watchWarning(service);
      if (warning) this.#log('warn', warning.message, { setting: warning.setting, service: service.name });
    }
  }

  /** Opens every runtime the config uses (once each); rejects when one cannot run here. */
  async #openRuntimes(config: ResolvedConfig): Promise<void> {
    const runtimes = this.#runtimes;
    if (!runtimes) return;
    for (const name of new Set(config.services.map((s) => s.runtime))) {
      if (!this.#runtime.has(name)) this.#runtime.set(name, await runtimes.get(name));
    }
  }

  /** Gets each service's runtime ready for it (images built, ...); rejects with the first failure. */
  async #prepareAll(services: readonly ResolvedService[]): Promise<void> {
    await Promise.all(services.map((service) => this.#runtime.get(service.runtime)?.prepare?.(service)));
  }

  /** A service's runtime; a service is created only once it has been opened. */
  #runtimeOf(config: ResolvedService): Runtime {
    const runtime = this.#runtime.get(config.runtime);
    if (!runtime) throw new MsupError('MSUP_STOPPED', `the ${config.runtime} runtime is not open`);
    return runtime;
  }

  #createService(config: ResolvedService): void {
    if (this.#stopping || !this.#runtimes) return;
    const proxy = this.#fronts.of(config.name);
    const service = new Service(config, {
      runtime: (current) => this.#runtimeOf(current),
      monitor: startMonitor,
      prepare: async (current) => {
        try {
          await this.#runtimeOf(current).prepare?.(current);
          return null;
        } catch (error) {
          return `could not prepare the ${current.runtime} runtime: ${(error as Error).message}`;
        }
      },
      environment: (current) => this.#environment(current),
      urls: () => this.#urls(),
      drain: (key, timeoutMs) => (proxy ? proxy.drain(key, timeoutMs) : Promise.resolve()),
      random: Math.random,
      onOutput: (line) => {
        this.#logFiles?.write(line);
        this.emit('output', line);
      },
      onEvent: (event) => this.#onServiceEvent(event, proxy),
    });
    this.#services.set(config.name, service);
  }

  /** Starts a service now, or as soon as every service in its dependsOn reaches its condition. */
  #startWhenDependenciesMet(name: string): void {
    const service = this.#services.get(name);
    if (!service) return;
    const launch = () => {
      const url = this.#fronts.url(name);
      this.#log('info', 'starting', {
        service: name,
        instances: service.config.instances,
        ...(url ? { url } : {}),
      });
      service.start();
    };
    if (Object.keys(service.config.dependsOn).length === 0) {
      launch();
      return;
    }
    this.#log('info', 'waiting for dependencies', { service: name, dependsOn: service.config.dependsOn });
    const cancelled = () => {
      const gone = this.#stopping !== undefined || this.#services.get(name) !== service;
      if (gone) this.#dependencyChecks.delete(service);
      return gone;
    };
    const recheck = whenDependenciesMet(
      this,
      () => service.config.dependsOn,
      (dep) => this.#services.get(dep),
      cancelled,
      () => {
        this.#dependencyChecks.delete(service);
        launch();
      },
      (reason) => {
        if (!service.setBlocked(reason)) return;
        // Like docker compose's "dependency failed to start", but it keeps waiting: a manual restart
        // of the dependency may still bring it there.
        if (reason) this.#log('error', `${name} will not start: ${reason}`, { service: name, reason });
        for (const info of service.instances()) this.emit('instance', info);
      },
    );
    if (!service.started && !cancelled()) this.#dependencyChecks.set(service, recheck);
  }

  /**
   * Stops a service; `forget` (a reload removed it, or `replaced` it with a new one of that name) also
   * closes its front and drops it from the API.
   */
  async #stopService(name: string, forget: boolean, replaced = false): Promise<void> {
    this.#fronts.beginClose(name);
    const service = this.#services.get(name);
    // A rollout it ends tells its caller why (the service is not gone when a reload replaced it).
    if (service && forget) this.#reloaded.set(service, replaced ? 'replaced' : 'removed');
    await service?.stop();
    if (!forget) return;
    await this.#fronts.closeService(name);
    this.#services.delete(name);
    // Its last lines are written; its file stays for `msup logs`, its descriptor is let go.
    this.#logFiles?.forget(name);
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
        proxy?.add(event.key, event.label, event.endpoint);
        this.#directory.add(event.instance.service, event.key, event.endpoint);
        return;
      case 'unready':
        proxy?.remove(event.key);
        this.#directory.remove(event.instance.service, event.key);
        return;
      case 'gone':
        proxy?.forget(event.key);
        this.#directory.remove(event.service, event.key);
        return;
    }
  }

  #waitUntilReady(timeoutMs: number): Promise<void> {
    const wait = waitUntilStarted(this, () => this.services(), timeoutMs);
    this.#abortWait = wait.abort;
    return wait.done.finally(() => {
      this.#abortWait = undefined;
    });
  }

  #loopGuardOptions(): LoopGuardOptions {
    const given = this.#options.watchLoopGuard;
    // Checked at start (checkStartOptions).
    const windowMs = durationOption('watchLoopGuard.window', given?.window);
    return {
      ...(given?.restarts === undefined ? {} : { maxRestarts: given.restarts }),
      ...(windowMs === undefined ? {} : { windowMs }),
    };
  }

  async #watch(config: ResolvedConfig): Promise<void> {
    this.#watching = new WatchSet(
      {
        serviceChanged: (name, files) => {
          this.#log('info', 'files changed', {
            service: name,
            files: files.slice(0, 10),
            count: files.length,
          });
          return this.#restartForChange(name);
        },
        restartQueued: (name) => this.#restartQueued.has(name),
        configChanged: () => {
          this.reload().catch((error: Error) =>
            this.#log('error', 'config reload failed', { error: error.message }),
          );
        },
        // Which files, so the user can move them out of the watched tree (or into watchIgnore), and how
        // to get watching back once that is done (resume() on a manual restart, or a reload).
        loop: (name, why, files) =>
          this.#log(
            'error',
            `restart loop: the service keeps changing its own watched files; watching paused: run \`msup restart ${name}\` to resume`,
            { service: name, ...why, files: files.slice(0, 5), count: files.length },
          ),
        error: (where, error, suppressed) =>
          this.#log('warn', 'watch error', {
            where,
            error: error.message,
            ...(suppressed > 0 ? { suppressed } : {}),
          }),
        // A change under such a link restarts nothing: this line says why.
        linkSkipped: (name, { link, target, reason }) =>
          this.#log('info', 'link not followed', {
            service: name,
            link,
            target,
            reason: LINK_SKIP_REASONS[reason],
          }),
        // The lines above stop at LINKS_TOLD: the rest are counted, so that none goes without a word.
        linksUntold: (name, count) =>
          this.#log('info', `${count} more ${count === 1 ? 'link' : 'links'} not followed`, {
            service: name,
            count,
          }),
      },
      Date.now,
      this.#loopGuardOptions(),
    );
    await this.#watching.sync(config);
  }

  /**
   * A change-triggered rolling restart; a burst while one runs queues exactly one more. Returns the
   * restart (settled when it ended, done or failed), or undefined when none was asked for.
   */
  #restartForChange(name: string): Promise<void> | undefined {
    const service = this.#services.get(name);
    if (!service || this.#restartQueued.has(name)) return undefined;
    this.#restartQueued.add(name);
    return service
      .restart({ onStart: () => this.#restartQueued.delete(name) })
      .then((result) => {
        // A stop (msup's, or a reload removing the service) ends a rollout without its failing.
        if (result.failed && !this.#stopping && !service.stopping) {
          this.#log('error', `restart after change failed; ${service.oldInstanceNote(result.failed.index)}`, {
            service: name,
            instance: result.failed.index,
            reason: result.failed.reason,
          });
        }
      })
      .catch((error: Error) =>
        this.#log('error', 'restart after change failed', { service: name, error: error.message }),
      );
  }

  /** `method`: the public method the name was handed to, named when the name is not a string. */
  #service(name: string, method: string): Service {
    checkServiceName(method, name);
    const service = this.#services.get(name);
    // No service at all is the supervisor's state, not the name's (a config has at least one): before
    // start(), a start that failed before its services existed, or one not that far yet.
    if (!service && this.#services.size === 0) {
      this.#running();
      throw new MsupError('MSUP_STOPPED', 'the supervisor is still starting');
    }
    if (!service) {
      const names = [...this.#services.keys()];
      throw new MsupError(
        'MSUP_UNKNOWN_SERVICE',
        `no service "${name}" (services: ${names.join(', ') || 'none'})${didYouMean(name, names)}`,
        { service: name },
      );
    }
    return service;
  }

  /** The front URL of a service, e.g. http://127.0.0.1:8080. */
  url(name: string): string {
    this.#service(name, 'url');
    const url = this.#fronts.url(name);
    // Its front closed with the rest: the supervisor stopped, not a service without a port.
    if (!url && this.#stopping) this.#running();
    if (!url) {
      throw new MsupError('MSUP_UNKNOWN_SERVICE', `service "${name}" has no port, so it has no URL`, {
        service: name,
      });
    }
    return url;
  }

  instances(name: string): InstanceInfo[] {
    return this.#service(name, 'instances').instances();
  }

  services(): ServiceInfo[] {
    return [...this.#services.values()].map((s) => ({
      name: s.name,
      instances: s.instances(),
      url: this.#fronts.url(s.name),
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
    // Without one, each replacement has its service's startTimeout, as a first start has.
    const readyTimeoutMs = durationOption('readyTimeout', options.readyTimeout);
    this.#running();
    const targets = name === undefined ? [...this.#services.values()] : [this.#service(name, 'restart')];
    const results: RolloutResult[] = [];
    for (const service of targets) {
      this.#running();
      this.#log('info', 'rolling restart', { service: service.name });
      const result = await service.restart({ readyTimeoutMs });
      // A stop (of msup, or of the service by a reload that removed or replaced it) ends the rollout:
      // that is no failed rollout, and no old instance keeps serving.
      if (this.#stopping || service.stopping) {
        const reloaded = this.#stopping ? undefined : this.#reloaded.get(service);
        const why =
          reloaded === 'replaced'
            ? 'a config reload replaced the service (it starts again with the new settings)'
            : reloaded === 'removed'
              ? 'a config reload removed the service'
              : 'it was stopped';
        throw new MsupError('MSUP_STOPPED', `rolling restart of "${service.name}" ended: ${why}`, {
          service: service.name,
        });
      }
      results.push(result);
      if (!result.failed && (await this.#watching?.resume(service.name, this.config))) {
        this.#log('info', 'watching resumed after a manual restart', { service: service.name });
      }
      if (result.failed) {
        const { index, reason } = result.failed;
        throw new MsupError(
          'MSUP_RESTART_FAILED',
          `rolling restart of "${service.name}" stopped at ${service.name}#${index}: ${reason}; ${service.oldInstanceNote(index)}`,
          { service: service.name, rollouts: results },
        );
      }
    }
    return results;
  }

  /** Changes how many instances a service runs; scaling down drains the leaving instances first. */
  async scale(name: string, count: number): Promise<void> {
    this.#running();
    const service = this.#service(name, 'scale');
    if (!Number.isInteger(count) || count < 0 || count > MAX_INSTANCES) {
      throw new MsupError(
        'MSUP_USAGE',
        `scale ${name}: expected a whole number from 0 to ${MAX_INSTANCES}, got ${show(count)}`,
        { service: name },
      );
    }
    const from = service.instances().length;
    if (from === count && service.config.instances === count) return;
    this.#log('info', 'scaling', { service: name, from, to: count });
    await service.scale(count);
    if (this.#stopping || service.stopping) {
      throw new MsupError('MSUP_STOPPED', `scale ${name}: stopped before it was done`, { service: name });
    }
  }

  /** Restart and scale act on a running supervisor only: before start(), and once stopping, they refuse. */
  #running(): void {
    if (!this.#started) throw new MsupError('MSUP_STOPPED', 'the supervisor has not been started');
    if (this.#over) throw new MsupError('MSUP_STOPPED', 'the supervisor has stopped');
    if (this.#stopping) throw new MsupError('MSUP_STOPPED', 'the supervisor is stopping');
    if (!this.#config) throw new MsupError('MSUP_STOPPED', 'the supervisor is still starting');
  }

  /**
   * Loads the config file again and applies what changed: added services start, removed ones stop,
   * changed ones get a rolling restart with the new settings, a new instance count scales. An invalid
   * config changes nothing: every problem is logged and the running config stays.
   */
  reload(): Promise<ReloadResult> {
    const run = this.#reloads.then(() => this.#reload());
    this.#reloads = run.catch(() => {});
    return run;
  }

  async #reload(): Promise<ReloadResult> {
    const current = this.config;
    if (!current.file || this.#stopping) return emptyReloadResult();
    // A config file that is a link made to lead elsewhere is watched where it leads before it loads: one
    // that fails to load is watched all the same (fixing it reloads), and is no change of a service's files.
    await this.#watching?.followConfigFile(current);
    let next: ResolvedConfig;
    try {
      next = adjustConfig(
        await loadConfigIsolated({
          configFile: current.file,
          runtime: this.#options.runtime,
          signal: this.#loading.signal,
        }),
      );
      await this.#openRuntimes(next);
      this.#warnUnused(next);
      if (!isDeepStrictEqual(next.admin, current.admin)) {
        // The admin listener keeps its address (and its token) for the whole run.
        this.#log('warn', 'admin settings changed: they apply at the next start', {
          running: current.admin,
          file: next.admin,
        });
        next = Object.freeze({ ...next, admin: current.admin });
      }
    } catch (error) {
      // msup stopped while the config loaded: nothing to change, nothing to report.
      if (this.#stopping) return emptyReloadResult();
      const issues = isMsupError(error) ? error.issues.map((i) => `${i.path}: ${i.message}`) : [];
      this.#log('error', 'config change rejected; the running config stays', {
        file: current.file,
        error: (error as Error).message,
        ...(issues.length ? { issues } : {}),
      });
      return emptyReloadResult();
    }
    return applyConfig(
      {
        stopping: () => this.#stopping !== undefined,
        fronts: this.#fronts,
        service: (name) => this.#services.get(name),
        setConfig: (config) => {
          this.#config = config;
        },
        removeService: (name, replaced) => this.#stopService(name, true, replaced),
        startService: (config) => this.#startService(config),
        syncWatchers: async (config) => {
          await this.#watching?.sync(config);
        },
        recheckDependencies: (name) => {
          const service = this.#services.get(name);
          if (service) this.#dependencyChecks.get(service)?.();
        },
        log: (level, msg, fields) => this.#log(level, msg, fields),
      },
      current,
      next,
    );
  }

  /** A snapshot for `msup status`: instances with uptime, CPU (sampled over `sampleMs`) and memory. */
  async status(sampleMs = 100): Promise<StatusV1> {
    const waitMs = durationOption('sampleMs', sampleMs) ?? 100;
    const sample = async (): Promise<UsageSample> => {
      const byRuntime = new Map<string, RunningInstance[]>();
      for (const service of this.#services.values()) {
        for (const { runtime, run } of service.running()) {
          const list = byRuntime.get(runtime);
          if (list) list.push(run);
          else byRuntime.set(runtime, [run]);
        }
      }
      return { usage: (await this.#runtimes?.usage(byRuntime)) ?? new Map(), at: Date.now() };
    };
    const before = await sample();
    await new Promise((r) => setTimeout(r, waitMs));
    const after = await sample();
    const meta = {
      project: this.config.root,
      configFile: this.config.file,
      pid: process.pid,
      startedAt: this.#startedAt,
      sharedFront: this.#fronts.sharedUrl(),
      dashboard: this.adminUrl(),
      ready: startVerdict(this.services()).kind === 'ready',
    };
    return buildStatus(meta, this.services(), before, after);
  }

  /** Stops everything gracefully; resolves once every child process is gone. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopDone ??= (async () => {
      this.#stopping ??= this.#stop();
      await this.#stopping;
      await this.#startDone;
      this.#markStopped();
    })();
    return this.#stopDone;
  }

  /** A forced stop: SIGKILL every instance now, then finish stopping. */
  kill(): Promise<void> {
    for (const service of this.#services.values()) service.kill();
    return this.stop();
  }

  async #stop(): Promise<void> {
    this.#loading.abort();
    this.#abortWait?.(new MsupError('MSUP_STOPPED', 'stopped before every instance was ready'));
    this.#fronts.beginClose();
    await this.#watching?.close();
    // Dependents stop before what they depend on.
    const first = [...this.#services.keys()];
    const graph = new Map([...this.#services.values()].map((s) => [s.name, Object.keys(s.config.dependsOn)]));
    for (const wave of stopWaves(graph))
      await Promise.all(wave.map((name) => this.#stopService(name, false)));
    // A reload under way finishes quickly once its services are stopping; stop what it started.
    await this.#reloads;
    const late = [...this.#services.keys()].filter((name) => !first.includes(name));
    await Promise.all(late.map((name) => this.#stopService(name, false)));
    await this.#fronts.closeAll();
    await this.#runtimes?.close();
    await this.#control?.close();
    this.#control = undefined;
    await this.#admin?.close();
    this.#admin = undefined;
    if (this.#services.size > 0 && !this.#loggedStopped) {
      this.#loggedStopped = true;
      this.#log('info', 'stopped');
    }
    const logFiles = this.#logFiles;
    // Lines the disk did not take, told while msup.log is still open.
    logFiles?.reportDrops();
    this.#logFiles = undefined;
    await logFiles?.close();
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
