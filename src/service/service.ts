// One service: keeps its instances running through a runtime, restarts them by policy, replaces
// them one at a time on request (rolling restart), scales, and reports every change as an event.
// It knows nothing of the proxy or of how probes run: the supervisor hands it those as functions.
import type {
  ExitInfo,
  InstanceInfo,
  InstanceState,
  OutputLine,
  ResolvedProbeSettings,
  ResolvedService,
  Runtime,
} from '../types.js';
import { createIncarnation, describeExit, type Incarnation, instanceEnv } from './incarnation.js';
import { decideRestart, failed } from './restart-policy.js';

const STDERR_TAIL = 20;
/** A service with no port and no probe counts as started (ready) once it has stayed up this long. */
export const STARTED_AFTER_MS = 500;

export interface ProbeHandle {
  stop(): void;
}

export interface ServiceDeps {
  runtime: Runtime;
  ports: { allocate(): Promise<number>; release(port: number): void };
  monitor(
    settings: ResolvedProbeSettings,
    target: { port: number; cwd: string; env: Readonly<Record<string, string>> },
    handlers: { onReady(detail: string): void; onUnready(detail: string): void },
    initiallyReady?: boolean,
  ): ProbeHandle;
  /** The environment every instance starts from, read again at each launch. */
  environment(service: ResolvedService): Readonly<Record<string, string | undefined>>;
  /** Resolves once a member taken out of rotation has no requests or connections left (bounded). */
  drain(key: string, timeoutMs: number): Promise<void>;
  random(): number;
  onOutput(line: OutputLine): void;
  onEvent(event: ServiceEvent): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type ServiceEvent =
  | { type: 'instance'; instance: InstanceInfo }
  | { type: 'ready'; key: string; label: string; port: number; instance: InstanceInfo }
  | { type: 'unready'; key: string; instance: InstanceInfo }
  | { type: 'gone'; key: string }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> };

export interface RolloutResult {
  service: string;
  /** Indexes replaced, in order. */
  restarted: number[];
  /** The instance whose replacement never became ready; the rollout stopped there and kept the old one. */
  failed: { index: number; reason: string } | null;
}

interface Slot {
  index: number;
  state: InstanceState;
  restarts: number;
  consecutive: number;
  lastExit: ExitInfo | null;
  current: Incarnation | null;
  /** The replacement being started during a rolling restart. */
  pending: Incarnation | null;
  timer: NodeJS.Timeout | undefined;
  /** Stopped for good (service stop or scale-down). */
  retired: boolean;
}

export { describeExit };

export class Service {
  #config: ResolvedService;
  readonly #deps: ServiceDeps;
  #slots: Slot[] = [];
  readonly #stderrTail: string[] = [];
  #stopping = false;
  #started = false;
  /** Serialises rollouts and scaling. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: ResolvedService, deps: ServiceDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  get name(): string {
    return this.#config.name;
  }

  get config(): ResolvedService {
    return this.#config;
  }

  /** Settings for launches from now on (a reloaded config); running instances keep theirs until replaced. */
  update(config: ResolvedService): void {
    this.#config = config;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (let i = 0; i < this.#config.instances; i++) this.#addSlot();
  }

  get started(): boolean {
    return this.#started;
  }

  instances(): InstanceInfo[] {
    if (!this.#started) {
      // Not launched yet (waiting for dependencies): the instances it will have.
      return Array.from({ length: this.#config.instances }, (_, index) => ({
        service: this.name,
        index,
        pid: null,
        port: null,
        state: 'waiting' as const,
        ready: false,
        restarts: 0,
        lastExit: null,
        startedAt: null,
      }));
    }
    return this.#slots.map((slot) => this.#info(slot));
  }

  stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map((slot) => this.#retire(slot, false)));
  }

  /** A forced stop: SIGKILL every instance's process group now. */
  kill(): void {
    this.#stopping = true;
    for (const slot of this.#slots) {
      slot.retired = true;
      clearTimeout(slot.timer);
      for (const inc of [slot.current, slot.pending]) {
        if (!inc) continue;
        inc.retiring = true;
        inc.run.kill();
      }
    }
  }

  /** Rolling restart: each instance in turn is replaced by a new one that is ready before the old one leaves. */
  restart(options: { readyTimeoutMs: number; onStart?: () => void }): Promise<RolloutResult> {
    return this.#serial(async () => {
      options.onStart?.();
      const result: RolloutResult = { service: this.name, restarted: [], failed: null };
      for (const slot of [...this.#slots]) {
        if (this.#stopping) break;
        if (slot.retired) continue;
        const outcome = await this.#replace(slot, options.readyTimeoutMs);
        if (outcome !== null) {
          result.failed = { index: slot.index, reason: outcome };
          this.#log('error', 'rolling restart stopped', slot, { reason: outcome });
          break;
        }
        result.restarted.push(slot.index);
      }
      return result;
    });
  }

  /** Up: new instances start. Down: the highest indexes leave rotation, drain, then stop. */
  scale(count: number): Promise<void> {
    return this.#serial(async () => {
      this.#config = { ...this.#config, instances: count };
      while (this.#slots.length < count && !this.#stopping) this.#addSlot();
      const leaving = this.#slots.slice(count);
      await Promise.all(leaving.map((slot) => this.#retire(slot, true)));
      this.#slots = this.#slots.filter((slot) => !leaving.includes(slot));
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  #addSlot(): void {
    const slot: Slot = {
      index: this.#slots.length,
      state: 'starting',
      restarts: 0,
      consecutive: 0,
      lastExit: null,
      current: null,
      pending: null,
      timer: undefined,
      retired: false,
    };
    this.#slots.push(slot);
    void this.#launchCurrent(slot);
  }

  #info(slot: Slot): InstanceInfo {
    const inc = slot.current;
    return {
      service: this.name,
      index: slot.index,
      pid: inc?.run.pid ?? null,
      port: inc?.port ?? null,
      state: slot.state,
      ready: inc?.ready ?? false,
      restarts: slot.restarts,
      lastExit: slot.lastExit,
      startedAt: inc?.run.startedAt ?? null,
    };
  }

  #log(level: LogLevel, msg: string, slot: Slot | null, fields: Record<string, unknown> = {}): void {
    const where = slot ? { service: this.name, instance: slot.index } : { service: this.name };
    this.#deps.onEvent({ type: 'log', level, msg, fields: { ...where, ...fields } });
  }

  #setState(slot: Slot, state: InstanceState): void {
    slot.state = state;
    this.#deps.onEvent({ type: 'instance', instance: this.#info(slot) });
  }

  #setReady(slot: Slot, inc: Incarnation, ready: boolean, detail: string, fromProbe = false): void {
    if (inc.ready === ready) return;
    inc.ready = ready;
    if (ready) {
      inc.settleFirstReady(true);
      this.#watchLiveness(slot, inc);
      if (inc === slot.current) slot.state = 'running';
      const label = `${this.name}#${slot.index}`;
      this.#deps.onEvent({ type: 'ready', key: inc.key, label, port: inc.port, instance: this.#info(slot) });
      this.#log('info', 'ready', slot, { pid: inc.run.pid, port: inc.port, detail });
    } else {
      this.#deps.onEvent({ type: 'unready', key: inc.key, instance: this.#info(slot) });
      if (fromProbe) this.#log('warn', 'not ready', slot, { detail });
    }
    this.#deps.onEvent({ type: 'instance', instance: this.#info(slot) });
  }

  #output(line: OutputLine): void {
    if (line.stream === 'stderr') {
      this.#stderrTail.push(line.line);
      if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift();
    }
    this.#deps.onOutput(line);
  }

  /** Once an incarnation has been ready, its liveness probe runs; enough failures in a row restart it. */
  #watchLiveness(slot: Slot, inc: Incarnation): void {
    const settings = this.#config.liveness;
    if (!settings || inc.livenessStarted || inc.exit) return;
    inc.livenessStarted = true;
    const env = inc.env;
    const probe = this.#deps.monitor(
      settings,
      { port: inc.port, cwd: this.#config.cwd, env },
      {
        onReady: () => {},
        onUnready: (detail) => {
          if (inc.retiring || inc.exit) return;
          this.#log('warn', 'liveness failed: restarting', slot, { pid: inc.run.pid, detail });
          inc.unhealthy = true;
          this.#setReady(slot, inc, false, detail);
          void inc.run.stop(this.#config.stopTimeoutMs);
        },
      },
      true,
    );
    const stopReadiness = inc.stopProbe;
    inc.stopProbe = () => {
      stopReadiness();
      probe.stop();
    };
  }

  /** Starts a new process for the slot; null when the slot was retired meanwhile. */
  async #spawn(slot: Slot, asCurrent: boolean): Promise<Incarnation | null> {
    const port = await this.#deps.ports.allocate();
    if (this.#stopping || slot.retired) {
      this.#deps.ports.release(port);
      return null;
    }
    const config = this.#config;
    const env = instanceEnv(this.#deps.environment(config), config.env, {
      port,
      service: config.name,
      index: slot.index,
      instances: config.instances,
    });
    const run = this.#deps.runtime.start(
      {
        service: config.name,
        index: slot.index,
        instances: config.instances,
        command: config.command,
        cwd: config.cwd,
        env,
        port,
      },
      (line) => this.#output(line),
    );
    const inc = createIncarnation(`${config.name}#${slot.index}:${run.pid ?? 'none'}`, port, run, env);
    if (asCurrent) {
      slot.current = inc;
      // A crash-looping instance stays visibly in crash-loop until it proves itself ready.
      this.#setState(slot, slot.consecutive >= config.restart.crashLoopAfter ? 'crash-loop' : 'starting');
    } else {
      slot.pending = inc;
    }
    this.#log('info', 'started', slot, { pid: run.pid, port, restarts: slot.restarts });
    inc.handled = run.exited.then((exit) => this.#onExit(slot, inc, exit));
    if (run.pid === null) return inc;
    if (config.health) {
      const probe = this.#deps.monitor(
        config.health,
        { port, cwd: config.cwd, env },
        {
          onReady: (detail) => this.#setReady(slot, inc, true, detail),
          onUnready: (detail) => this.#setReady(slot, inc, false, detail, true),
        },
      );
      inc.stopProbe = () => probe.stop();
    } else {
      const timer = setTimeout(
        () => this.#setReady(slot, inc, true, `up for ${STARTED_AFTER_MS}ms (no port, no health check)`),
        STARTED_AFTER_MS,
      );
      inc.stopProbe = () => clearTimeout(timer);
    }
    return inc;
  }

  async #launchCurrent(slot: Slot): Promise<void> {
    if (this.#stopping || slot.retired) return;
    await this.#spawn(slot, true);
  }

  async #onExit(slot: Slot, inc: Incarnation, exit: ExitInfo): Promise<void> {
    inc.exit = exit;
    inc.stopProbe();
    this.#setReady(slot, inc, false, describeExit(exit));
    inc.settleFirstReady(false);
    const planned = inc.retiring || this.#stopping || slot.retired;
    const isCurrent = inc === slot.current;
    if (!planned) {
      this.#log(failed(exit) || inc.unhealthy ? 'warn' : 'info', 'exited', slot, {
        pid: inc.run.pid,
        ...(inc.unhealthy ? { reason: 'liveness probe failed' } : {}),
        code: exit.code,
        signal: exit.signal,
        uptimeMs: exit.uptimeMs,
        ...(exit.error ? { error: exit.error } : {}),
      });
    }
    // Whatever the main process left in its group goes too, so its port is free.
    await inc.run.stop(this.#config.stopTimeoutMs);
    this.#deps.onEvent({ type: 'gone', key: inc.key });
    this.#deps.ports.release(inc.port);
    if (slot.pending === inc) slot.pending = null;
    if (!isCurrent || slot.current !== inc) return;
    slot.current = null;
    slot.lastExit = exit;
    if (planned) {
      this.#setState(slot, 'stopped');
      return;
    }
    // During a rollout the replacement takes over; the rollout decides what happens next.
    if (slot.pending) return;
    this.#afterCrash(slot, exit, inc.unhealthy);
  }

  #afterCrash(slot: Slot, exit: ExitInfo, unhealthy = false): void {
    const decision = decideRestart(
      this.#config.restart,
      { ...exit, requested: false, unhealthy },
      slot.consecutive,
      this.#deps.random(),
    );
    slot.consecutive = decision.consecutive;
    if (!decision.restart) {
      this.#setState(slot, 'exited');
      this.#log(decision.failed ? 'error' : 'info', 'not restarting', slot, {
        policy: this.#config.restart.policy,
        reason: describeExit(exit),
      });
      return;
    }
    if (decision.crashLoop) {
      this.#setState(slot, 'crash-loop');
      this.#log('error', 'crash loop', slot, {
        failures: decision.consecutive,
        last: describeExit(exit),
        delayMs: decision.delayMs,
        stderr: this.#stderrTail.slice(-5),
      });
    } else {
      this.#setState(slot, 'backoff');
      this.#log('warn', 'restarting', slot, { delayMs: decision.delayMs, failures: decision.consecutive });
    }
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      slot.restarts++;
      void this.#launchCurrent(slot);
    }, decision.delayMs);
  }

  /** Replaces one instance; returns null on success or why the replacement failed. */
  async #replace(slot: Slot, readyTimeoutMs: number): Promise<string | null> {
    const old = slot.current;
    if (!old) {
      // Not running (backing off, crash loop, exited): start it now instead of waiting.
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.consecutive = 0;
      slot.restarts++;
      await this.#launchCurrent(slot);
      return null;
    }
    const next = await this.#spawn(slot, false);
    if (!next) return 'stopped';
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      next.firstReady,
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), readyTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!ready || this.#stopping || slot.retired) {
      next.retiring = true;
      next.stopProbe();
      this.#setReady(slot, next, false, 'replacement abandoned');
      await next.run.stop(this.#config.stopTimeoutMs);
      await next.handled;
      if (!slot.current && !this.#stopping && !slot.retired && slot.lastExit)
        this.#afterCrash(slot, slot.lastExit);
      if (this.#stopping || slot.retired) return 'stopped';
      return next.exit
        ? `replacement ${describeExit(next.exit)}`
        : `replacement not ready within ${readyTimeoutMs}ms`;
    }
    // The replacement is in rotation: it becomes the instance, and the old one drains and stops.
    slot.pending = null;
    slot.current = next;
    slot.restarts++;
    slot.consecutive = 0;
    slot.state = 'running';
    this.#deps.onEvent({ type: 'instance', instance: this.#info(slot) });
    this.#log('info', 'replaced', slot, { pid: next.run.pid, previous: old.run.pid });
    if (old.run.pid !== null && !old.exit) await this.#retireIncarnation(slot, old, true);
    return null;
  }

  async #retireIncarnation(slot: Slot, inc: Incarnation, drain: boolean): Promise<void> {
    inc.retiring = true;
    inc.stopProbe();
    this.#setReady(slot, inc, false, 'retiring');
    inc.settleFirstReady(false);
    if (drain && !inc.exit) await this.#deps.drain(inc.key, this.#config.drainTimeoutMs);
    await inc.run.stop(this.#config.stopTimeoutMs);
    await inc.handled;
  }

  async #retire(slot: Slot, drain: boolean): Promise<void> {
    slot.retired = true;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const incs = [slot.current, slot.pending].filter((i): i is Incarnation => i !== null);
    if (incs.length === 0) {
      if (slot.state !== 'exited') this.#setState(slot, 'stopped');
      return;
    }
    if (slot.current) this.#setState(slot, 'stopping');
    await Promise.all(incs.map((inc) => this.#retireIncarnation(slot, inc, drain)));
    if (slot.state !== 'stopped' && slot.state !== 'exited') this.#setState(slot, 'stopped');
  }
}
