// One instance of a service (a slot, by index): its current process and, during a rolling restart,
// its replacement; launch, readiness and liveness, crash handling by policy, replacement and retirement.

import { peerVariable } from '../config/peer-variable.js';
import type { RunningInstance } from '../contract.js';
import type {
  ExitInfo,
  InstanceInfo,
  InstanceState,
  LogLevel,
  OutputLine,
  ResolvedService,
} from '../types.js';
import {
  createIncarnation,
  describeExit,
  failedLaunch,
  type Incarnation,
  instanceEnv,
} from './incarnation.js';
import { decideRestart, failed } from './restart-policy.js';
import type { ServiceDeps } from './service.js';

/** A service with no port and no probe counts as started (ready) once it has stayed up this long. */
export const STARTED_AFTER_MS = 500;

/** Failing readiness probes are logged once an instance has been up this long (before, it is booting). */
export const PROBE_LOG_GRACE_MS = 1000;

/**
 * Why msup stopped an incarnation for its health: a liveness probe runs only once it has been ready, and
 * one stopped at `startTimeout` never was (nor becomes so as it stops).
 */
function healthReason(inc: Incarnation): string {
  return inc.becameReady ? 'liveness probe failed' : 'not ready in time';
}

/** The promise's value, or false after `ms`. */
async function withTimeout(promise: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a slot needs from its service. */
export interface SlotContext {
  /** The service's current settings (a reload may change them). */
  readonly config: ResolvedService;
  readonly deps: ServiceDeps;
  /** The whole service is stopping. */
  readonly stopping: boolean;
  log(level: LogLevel, msg: string, index: number | null, fields?: Record<string, unknown>): void;
  output(line: OutputLine): void;
  stderrTail(): string[];
}

export class InstanceSlot {
  readonly index: number;
  state: InstanceState = 'starting';
  restarts = 0;
  /** Unstable exits in a row (the backoff series). */
  consecutive = 0;
  lastExit: ExitInfo | null = null;
  current: Incarnation | null = null;
  /** The replacement being started during a rolling restart. */
  pending: Incarnation | null = null;
  timer: NodeJS.Timeout | undefined;
  /** Stopped for good (service stop or scale-down). */
  retired = false;
  readonly #ctx: SlotContext;
  /** A launch waiting for the runtime: a second launch (or a rollout) waits for it instead of starting another. */
  #launching: Promise<Incarnation | null> | undefined;
  /** A replacement waiting for the runtime (a rollout): retiring waits for it too. */
  #replacing: Promise<Incarnation | null> | undefined;
  /** Replaced incarnations still draining or stopping, with that work: a stop waits for them too. */
  readonly #leaving = new Map<Incarnation, Promise<void>>();

  constructor(ctx: SlotContext, index: number) {
    this.#ctx = ctx;
    this.index = index;
  }

  /** A forced stop: SIGKILL its processes now. */
  kill(): void {
    this.retired = true;
    clearTimeout(this.timer);
    for (const inc of [this.current, this.pending, ...this.#leaving.keys()]) {
      if (!inc) continue;
      inc.retiring = true;
      inc.run.kill();
    }
  }

  /** Its process runs with the service's current settings (launched after the last update). */
  runsCurrentSettings(): boolean {
    const inc = this.current;
    return inc !== null && inc.exit === null && inc.settings === this.#ctx.config;
  }

  /** The incarnations running now, oldest first (the current one, and a replacement being started). */
  running(): Incarnation[] {
    return [this.current, this.pending].filter((i): i is Incarnation => i !== null && !i.exit);
  }

  info(): InstanceInfo {
    const inc = this.current;
    const endpoint = inc?.run.endpoint ?? null;
    return {
      service: this.#ctx.config.name,
      index: this.index,
      runtime: inc?.runtime ?? this.#ctx.config.runtime,
      id: inc?.run.id ?? null,
      pid: inc?.run.pid ?? null,
      endpoint: endpoint ? { host: endpoint.host, port: endpoint.port } : null,
      port: endpoint?.port ?? null,
      state: this.state,
      ready: inc?.ready ?? false,
      restarts: this.restarts,
      lastExit: this.lastExit,
      startedAt: inc?.run.startedAt ?? null,
      lastProbe: inc?.lastProbe ?? null,
      ...(inc?.run.details ? { details: inc.run.details() } : {}),
    };
  }

  #setState(state: InstanceState): void {
    this.state = state;
    this.#ctx.deps.onEvent({ type: 'instance', instance: this.info() });
  }

  #setReady(inc: Incarnation, ready: boolean, detail: string, fromProbe = false): void {
    if (inc.ready === ready) return;
    // One on its way out (its liveness failed, not ready in time, retiring) stays out, whatever its
    // readiness probe says while it takes its time to stop: it neither rejoins rotation nor counts as ready.
    if (ready && (inc.unhealthy || inc.retiring || inc.exit)) return;
    inc.ready = ready;
    if (ready) {
      inc.settleFirstReady(true);
      inc.becameReady = true;
      this.#watchLiveness(inc);
      if (inc === this.current) this.state = 'running';
      const label = `${this.#ctx.config.name}#${this.index}`;
      const endpoint = inc.run.endpoint;
      if (endpoint)
        this.#ctx.deps.onEvent({ type: 'ready', key: inc.key, label, endpoint, instance: this.info() });
      this.#ctx.log('info', 'ready', this.index, { ...this.#ids(inc), detail });
    } else {
      this.#ctx.deps.onEvent({ type: 'unready', key: inc.key, instance: this.info() });
      if (fromProbe) this.#ctx.log('warn', 'not ready', this.index, { detail });
    }
    this.#ctx.deps.onEvent({ type: 'instance', instance: this.info() });
  }

  /**
   * Once an incarnation has been ready, its liveness probe runs; enough failures in a row restart it. The
   * probe is the one of the settings it was launched with, as Kubernetes keeps an old pod's probes: after
   * a reload, one launched before (not ready yet, or ready again after its readiness failed, while its
   * replacement starts) is never probed with a new path, port or timeout its code was not written for.
   */
  #watchLiveness(inc: Incarnation): void {
    const settings = (inc.settings ?? this.#ctx.config).liveness;
    if (!settings || inc.livenessStarted || inc.exit) return;
    inc.livenessStarted = true;
    const probe = this.#ctx.deps.monitor(
      settings,
      this.#probeTarget(inc.run),
      {
        onReady: () => {},
        onUnready: (detail) => {
          // Once: a probe that passes, then fails again while the instance stops, restarts nothing more.
          if (inc.retiring || inc.exit || inc.unhealthy) return;
          this.#ctx.log('warn', `liveness failed: ${this.#healthStopOutcome()}`, this.index, {
            ...this.#ids(inc),
            detail,
          });
          inc.unhealthy = true;
          this.#setReady(inc, false, detail);
          void inc.run.stop(this.#ctx.config.stopTimeoutMs);
        },
        onInconclusive: this.#probeSkipped(inc, 'liveness'),
      },
      true,
    );
    const stopReadiness = inc.stopProbe;
    inc.stopProbe = () => Promise.all([stopReadiness(), probe.stop()]).then(() => {});
  }

  /**
   * What follows a stop for the instance's health: its exit is a failure, so the restart policy restarts
   * it unless it is 'never' (then it stays exited, and the log must not promise a restart).
   */
  #healthStopOutcome(): 'restarting' | 'stopping' {
    return this.#ctx.config.restart.policy === 'never' ? 'stopping' : 'restarting';
  }

  /** What the probes need of an instance: where it serves, and how to run a command where it runs. */
  #probeTarget(run: RunningInstance) {
    return { endpoint: run.endpoint, exec: run.exec.bind(run) };
  }

  /** How log records name an incarnation: its id, pid (where there is one) and endpoint. */
  #ids(inc: Incarnation): Record<string, unknown> {
    const { id, pid, endpoint } = inc.run;
    return {
      id,
      ...(pid !== null ? { pid } : {}),
      ...(endpoint ? { port: endpoint.port } : {}),
      ...(endpoint && endpoint.host !== '127.0.0.1' ? { host: endpoint.host } : {}),
    };
  }

  /**
   * A probe msup could not make, out of descriptors (or processes, for up to 30 s): skipped, not counted;
   * said once per run of them, with the instance, as its other probe events are.
   */
  #probeSkipped(inc: Incarnation, probe: 'readiness' | 'liveness') {
    return (detail: string, shortage: 'descriptors' | 'processes') =>
      this.#ctx.log(
        'warn',
        shortage === 'processes'
          ? 'probe skipped: msup is short of processes'
          : 'probe skipped: msup is short of file descriptors',
        this.index,
        { ...this.#ids(inc), probe, detail },
      );
  }

  /**
   * A readiness probe's result: kept for status (its latest detail), and logged when it fails in a new
   * way: a new `reason`, never only a new output (a probe printing the time would log at every probe).
   */
  #probeResult(inc: Incarnation, ok: boolean, detail: string, reason = detail): void {
    inc.lastProbe = { ok, detail, at: Date.now() };
    if (ok) {
      inc.loggedProbe = null;
      return;
    }
    if (inc.loggedProbe === reason || inc.exit || inc.retiring) return;
    // While it boots, refused connections are expected: say nothing for the first moment.
    if (!inc.ready && Date.now() - inc.run.startedAt < PROBE_LOG_GRACE_MS) return;
    inc.loggedProbe = reason;
    this.#ctx.log('warn', 'readiness probe failing', this.index, { ...this.#ids(inc), detail });
  }

  /** Starts a new incarnation for the slot; null when the slot was retired (or msup stopped) meanwhile. */
  async #spawn(asCurrent: boolean): Promise<Incarnation | null> {
    const config = this.#ctx.config;
    const urls = this.#ctx.deps.urls?.() ?? {};
    const env = instanceEnv(this.#ctx.deps.environment(config), config.env, {
      service: config.name,
      index: this.index,
      instances: config.instances,
      urls,
    });
    const peers = Object.fromEntries(Object.keys(urls).map((name) => [name, peerVariable(name)]));
    const runtime = this.#ctx.deps.runtime(config);
    let run: RunningInstance;
    let launchFailed = false;
    try {
      run = await runtime.start(
        { service: config, index: this.index, instances: config.instances, env, peers },
        (line) => this.#ctx.output(line),
      );
    } catch (error) {
      run = failedLaunch(`${runtime.name}-${config.name}-${this.index}-${Date.now()}`, error);
      launchFailed = true;
    }
    if (this.#ctx.stopping || this.retired) {
      await run.stop(config.stopTimeoutMs);
      return null;
    }
    const inc = createIncarnation(`${config.name}#${this.index}:${run.id}`, runtime.name, run, launchFailed);
    inc.settings = config;
    if (asCurrent) {
      this.current = inc;
      // A crash-looping instance stays visibly in crash-loop until it proves itself ready.
      this.#setState(this.consecutive >= config.restart.crashLoopAfter ? 'crash-loop' : 'starting');
    } else {
      this.pending = inc;
    }
    if (!launchFailed) {
      // A replacement counts as the next restart (it becomes the instance once ready).
      const restarts = asCurrent ? this.restarts : this.restarts + 1;
      this.#ctx.log('info', 'started', this.index, { ...this.#ids(inc), restarts });
    }
    inc.handled = run.exited.then((exit) => this.#onExit(inc, exit));
    if (launchFailed) return inc;
    if (config.health) {
      const probe = this.#ctx.deps.monitor(config.health, this.#probeTarget(run), {
        onReady: (detail) => this.#setReady(inc, true, detail),
        onUnready: (detail) => this.#setReady(inc, false, detail, true),
        onResult: (result) => this.#probeResult(inc, result.ok, result.detail, result.reason),
        onInconclusive: this.#probeSkipped(inc, 'readiness'),
      });
      inc.stopProbe = () => probe.stop();
    } else {
      const timer = setTimeout(
        () => this.#setReady(inc, true, `up for ${STARTED_AFTER_MS}ms (no port, no health check)`),
        STARTED_AFTER_MS,
      );
      inc.stopProbe = () => {
        clearTimeout(timer);
        return Promise.resolve();
      };
    }
    this.#startDeadline(inc);
    return inc;
  }

  /**
   * An instance that never becomes ready (hung at boot) is restarted after `startTimeout`, like a
   * failed Kubernetes startupProbe; a replacement in a rollout has the rollout's own deadline.
   */
  #startDeadline(inc: Incarnation): void {
    const config = this.#ctx.config;
    if (!config.health) return;
    const timer = setTimeout(() => {
      if (inc.ready || inc.exit || inc.retiring || inc !== this.current) return;
      this.#ctx.log('warn', `not ready in time: ${this.#healthStopOutcome()}`, this.index, {
        ...this.#ids(inc),
        startTimeoutMs: config.startTimeoutMs,
        ...(inc.lastProbe ? { lastProbe: inc.lastProbe.detail } : {}),
      });
      inc.unhealthy = true;
      void inc.run.stop(config.stopTimeoutMs);
    }, config.startTimeoutMs);
    void inc.firstReady.then(() => clearTimeout(timer));
  }

  async launch(): Promise<void> {
    if (this.#ctx.stopping || this.retired || this.current) return;
    this.#launching ??= this.#spawn(true).finally(() => {
      this.#launching = undefined;
    });
    await this.#launching;
  }

  async #onExit(inc: Incarnation, ended: ExitInfo): Promise<void> {
    // One msup stopped for its health failed, whatever its code (an exit 0 on that SIGTERM is no clean end):
    // its restart policy, `lastExit` (status, dependsOn, start's verdict) and the logs all say so.
    const exit: ExitInfo = inc.unhealthy
      ? { ...ended, unhealthy: true, reason: ended.reason ?? healthReason(inc) }
      : ended;
    inc.exit = exit;
    const probesEnded = inc.stopProbe();
    this.#setReady(inc, false, describeExit(exit));
    inc.settleFirstReady(false);
    // An exec probe under way is ended with its instance: `handled` waits for its process group too.
    await probesEnded;
    const planned = inc.retiring || this.#ctx.stopping || this.retired;
    const isCurrent = inc === this.current;
    if (!planned) {
      this.#ctx.log(failed(exit) || inc.unhealthy ? 'warn' : 'info', 'exited', this.index, {
        ...this.#ids(inc),
        ...(inc.unhealthy ? { reason: healthReason(inc) } : exit.reason ? { reason: exit.reason } : {}),
        code: exit.code,
        signal: exit.signal,
        uptimeMs: exit.uptimeMs,
        ...(exit.error ? { error: exit.error } : {}),
      });
    }
    // Whatever the main process left in its group goes too, so its port is free.
    await inc.run.stop(this.#ctx.config.stopTimeoutMs);
    this.#ctx.deps.onEvent({ type: 'gone', service: this.#ctx.config.name, key: inc.key });
    if (this.pending === inc) this.pending = null;
    if (!isCurrent || this.current !== inc) return;
    this.current = null;
    this.lastExit = exit;
    // A stop may have begun while the group was being cleaned up.
    if (planned || inc.retiring || this.#ctx.stopping || this.retired) {
      this.#setState('stopped');
      return;
    }
    // During a rollout the replacement (started, or still being started) takes over; the rollout decides
    // what happens next. Until then the instance is that replacement, starting (not the old one, running).
    if (this.pending || this.#replacing) {
      this.#setState('starting');
      return;
    }
    this.#afterCrash(exit, inc.unhealthy, !inc.becameReady);
  }

  #afterCrash(exit: ExitInfo, unhealthy = false, neverReady = false): void {
    if (this.retired || this.#ctx.stopping) {
      this.#setState('stopped');
      return;
    }
    const decision = decideRestart(
      this.#ctx.config.restart,
      { ...exit, requested: false, unhealthy, neverReady },
      this.consecutive,
      this.#ctx.deps.random(),
    );
    this.consecutive = decision.consecutive;
    if (!decision.restart) {
      this.#setState('exited');
      this.#ctx.log(decision.failed ? 'error' : 'info', 'not restarting', this.index, {
        policy: this.#ctx.config.restart.policy,
        reason: describeExit(exit),
      });
      return;
    }
    if (decision.crashLoop) {
      this.#setState('crash-loop');
      this.#ctx.log('error', 'crash loop', this.index, {
        failures: decision.consecutive,
        last: describeExit(exit),
        delayMs: decision.delayMs,
        stderr: this.#ctx.stderrTail().slice(-5),
      });
    } else {
      this.#setState('backoff');
      this.#ctx.log('warn', 'restarting', this.index, {
        delayMs: decision.delayMs,
        failures: decision.consecutive,
      });
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.restarts++;
      void this.launch();
    }, decision.delayMs);
  }

  /**
   * Replaces one instance; returns null on success or why the replacement failed. Without a
   * `readyTimeoutMs` the replacement has what a first start has: its settings' `startTimeout`.
   */
  async replace(readyTimeoutMs?: number): Promise<string | null> {
    const old = this.current;
    if (!old) return this.#startNow(readyTimeoutMs);
    this.#replacing = this.#spawn(false);
    const next = await this.#replacing.finally(() => {
      this.#replacing = undefined;
    });
    if (!next) return 'stopped';
    const deadline = this.#deadline(next, readyTimeoutMs);
    const ready = await withTimeout(next.firstReady, deadline.ms);
    if (!ready || this.#ctx.stopping || this.retired) {
      // Why it failed is decided now: stopping it below gives it an exit of its own.
      const why = next.exit ? `replacement ${describeExit(next.exit)}` : `replacement ${deadline.missed()}`;
      next.retiring = true;
      next.stopProbe();
      this.#setReady(next, false, 'replacement abandoned');
      await next.run.stop(this.#ctx.config.stopTimeoutMs);
      await next.handled;
      // The old one exited meanwhile and nothing restarts it yet (its own exit may have, just before).
      if (!this.current && !this.#ctx.stopping && !this.retired && this.lastExit && this.timer === undefined)
        this.#afterCrash(this.lastExit, old.unhealthy, !old.becameReady);
      if (this.#ctx.stopping || this.retired) return 'stopped';
      return why;
    }
    // The replacement is in rotation: it becomes the instance, and the old one drains and stops.
    this.pending = null;
    this.current = next;
    this.restarts++;
    this.consecutive = 0;
    this.state = 'running';
    this.#ctx.deps.onEvent({ type: 'instance', instance: this.info() });
    this.#ctx.log('info', 'replaced', this.index, { ...this.#ids(next), previous: old.run.id });
    if (!old.exit) {
      const leaving = this.#retireIncarnation(old, true).finally(() => this.#leaving.delete(old));
      this.#leaving.set(old, leaving);
      await leaving;
    }
    return null;
  }

  /**
   * How long a rollout waits for an incarnation to be ready: the rollout's `readyTimeout` when one was
   * given, else the `startTimeout` of the settings it was launched with (as a first start). `missed` says
   * why it was given up, with the last probe's result (what it was waiting for).
   */
  #deadline(inc: Incarnation, readyTimeoutMs: number | undefined): { ms: number; missed(): string } {
    const ms = readyTimeoutMs ?? (inc.settings ?? this.#ctx.config).startTimeoutMs;
    const source = readyTimeoutMs === undefined ? 'startTimeout' : 'readyTimeout';
    return {
      ms,
      missed: () => {
        const probe = inc.lastProbe && !inc.lastProbe.ok ? `; last probe: ${inc.lastProbe.detail}` : '';
        return `not ready within ${ms}ms (${source})${probe}`;
      },
    };
  }

  /** A rollout over an instance with no process (backing off, crash loop, exited): start it now and wait for it. */
  async #startNow(readyTimeoutMs: number | undefined): Promise<string | null> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.#launching;
    if (!this.current) {
      this.consecutive = 0;
      this.restarts++;
      await this.launch();
    }
    const started = this.current as Incarnation | null;
    if (!started) return 'stopped';
    const deadline = this.#deadline(started, readyTimeoutMs);
    if (await withTimeout(started.firstReady, deadline.ms)) return null;
    if (this.#ctx.stopping || this.retired) return 'stopped';
    // A job that ran to a clean end, which its policy does not restart (as `start()` takes it), was
    // restarted as asked. Its exit is handled first: the policy decides then.
    if (started.exit && !started.unhealthy) {
      await started.handled;
      if (this.state === 'exited' && this.lastExit && !failed(this.lastExit)) return null;
    }
    return started.exit ? `instance ${describeExit(started.exit)}` : `instance ${deadline.missed()}`;
  }

  async #retireIncarnation(inc: Incarnation, drain: boolean): Promise<void> {
    inc.retiring = true;
    inc.stopProbe();
    this.#setReady(inc, false, 'retiring');
    inc.settleFirstReady(false);
    // A drain ends early when the instance does (a stop that came meanwhile ended it).
    if (drain && !inc.exit)
      await Promise.race([this.#ctx.deps.drain(inc.key, this.#ctx.config.drainTimeoutMs), inc.run.exited]);
    await inc.run.stop(this.#ctx.config.stopTimeoutMs);
    await inc.handled;
  }

  /** Stops the slot for good: `drain` (a scale-down) lets its requests finish first, and logs the stop. */
  async retire(drain: boolean): Promise<void> {
    this.retired = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A launch under way finds the slot retired when the runtime answers, and stops what it started.
    await Promise.all([this.#launching, this.#replacing]);
    // A replaced incarnation still draining is stopped now (its requests have had their chance) and waited for.
    for (const old of this.#leaving.keys()) void old.run.stop(this.#ctx.config.stopTimeoutMs);
    await Promise.all(this.#leaving.values());
    const incs = [this.current, this.pending].filter((i): i is Incarnation => i !== null);
    if (incs.length === 0) {
      // Stopped already (a second stop pass): nothing changes, so nothing is said.
      if (this.state !== 'exited' && this.state !== 'stopped') this.#setState('stopped');
      return;
    }
    if (this.current) this.#setState('stopping');
    const ids = this.current ? this.#ids(this.current) : {};
    await Promise.all(incs.map((inc) => this.#retireIncarnation(inc, drain)));
    if (this.state !== 'stopped' && this.state !== 'exited') this.#setState('stopped');
    if (drain) this.#ctx.log('info', 'stopped', this.index, ids);
  }
}
