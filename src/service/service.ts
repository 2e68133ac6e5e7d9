// One service: keeps its instances (slots) running through a runtime, replaces them one at a time
// on request (rolling restart), scales, and reports every change as an event.
// It knows nothing of the proxy or of how probes run: the supervisor hands it those as functions.
import type { Endpoint, RunningInstance, Runtime } from '../contract.js';
import type { MonitorHandlers } from '../health/monitor.js';
import type { ProbeTarget } from '../health/probe.js';
import type {
  InstanceInfo,
  LogLevel,
  OutputLine,
  ResolvedProbeSettings,
  ResolvedService,
  RolloutResult,
} from '../types.js';
import { InstanceSlot } from './instance-slot.js';

const STDERR_TAIL = 20;

export interface ProbeHandle {
  /** Resolves once a probe under way has ended. */
  stop(): Promise<void>;
}

export interface ServiceDeps {
  /** The runtime of the service's current settings (a reload may move it to another). */
  runtime(config: ResolvedService): Runtime;
  monitor(
    settings: ResolvedProbeSettings,
    target: ProbeTarget,
    handlers: MonitorHandlers,
    initiallyReady?: boolean,
  ): ProbeHandle;
  /** Gets the runtime ready for the service's settings (an image built); resolves with why not, or null. */
  prepare(config: ResolvedService): Promise<string | null>;
  /** The environment every instance starts from, read again at each launch. */
  environment(service: ResolvedService): Readonly<Record<string, string | undefined>>;
  /** The address of each service an instance may call (`MSUP_<NAME>_URL`), by service name. */
  urls?(): Readonly<Record<string, string>>;
  /** Resolves once a member taken out of rotation has no requests or connections left (bounded). */
  drain(key: string, timeoutMs: number): Promise<void>;
  random(): number;
  onOutput(line: OutputLine): void;
  onEvent(event: ServiceEvent): void;
}

export type ServiceEvent =
  | { type: 'instance'; instance: InstanceInfo }
  | { type: 'ready'; key: string; label: string; endpoint: Endpoint; instance: InstanceInfo }
  | { type: 'unready'; key: string; instance: InstanceInfo }
  | { type: 'gone'; service: string; key: string }
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> };

export class Service {
  #config: ResolvedService;
  readonly #deps: ServiceDeps;
  #slots: InstanceSlot[] = [];
  readonly #stderrTail: string[] = [];
  #stopping = false;
  #started = false;
  /** Why it waits on a dependency that will not get there by itself, or null. */
  #blocked: string | null = null;
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
    for (let i = 0; i < this.#config.instances; i++) void this.#addSlot();
  }

  /** Sets why it waits on a dependency that will not get there (null: it may); true when that changed. */
  setBlocked(reason: string | null): boolean {
    if (this.#blocked === reason) return false;
    this.#blocked = reason;
    return true;
  }

  get started(): boolean {
    return this.#started;
  }

  /**
   * What became of the old instance where a rollout stopped, for its error: kept (it still runs), or gone
   * (it exited while its replacement started; its restart policy has it now).
   */
  oldInstanceNote(index: number): string {
    const slot = this.#slots.find((s) => s.index === index);
    if (slot?.current && slot.current.exit === null) return 'the old instance keeps serving';
    return `the old instance exited meanwhile${slot ? ` (now ${slot.state})` : ''}`;
  }

  /** Stopping for good (msup stops, or a reload removed the service). */
  get stopping(): boolean {
    return this.#stopping;
  }

  instances(): InstanceInfo[] {
    if (!this.#started) {
      // Not launched yet (waiting for dependencies): the instances it will have.
      return Array.from({ length: this.#config.instances }, (_, index) => ({
        service: this.name,
        index,
        runtime: this.#config.runtime,
        id: null,
        pid: null,
        endpoint: null,
        port: null,
        state: 'waiting' as const,
        ready: false,
        restarts: 0,
        lastExit: null,
        startedAt: null,
        lastProbe: null,
        ...(this.#blocked ? { blocked: this.#blocked } : {}),
      }));
    }
    return this.#slots.map((slot) => slot.info());
  }

  /** Every running instance, with the runtime that runs it. */
  running(): { runtime: string; run: RunningInstance; index: number }[] {
    return this.#slots.flatMap((slot) =>
      slot.running().map(({ runtime, run }) => ({ runtime, run, index: slot.index })),
    );
  }

  stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map((slot) => slot.retire(false)));
  }

  /** A forced stop: SIGKILL every instance's process group now. */
  kill(): void {
    this.#stopping = true;
    for (const slot of this.#slots) slot.kill();
  }

  /** Rolling restart: each instance in turn is replaced by a new one that is ready before the old one leaves. */
  restart(options: {
    /** How long each replacement has to be ready; without it, its settings' `startTimeout` (as a first start). */
    readyTimeoutMs?: number;
    onStart?: () => void;
    /** Replace only instances launched with other settings than the current ones (a config reload). */
    changedOnly?: boolean;
  }): Promise<RolloutResult> {
    return this.#serial(async () => {
      options.onStart?.();
      const result: RolloutResult = { service: this.name, restarted: [], failed: null };
      const unprepared = await this.#deps.prepare(this.#config);
      if (unprepared !== null) {
        result.failed = { index: this.#slots[0]?.index ?? 0, reason: unprepared };
        this.#rolloutStopped(null, unprepared);
        return result;
      }
      for (const slot of [...this.#slots]) {
        if (this.#stopping) break;
        if (slot.retired) continue;
        // Started by this reload's scale-up, with the new settings already: nothing to roll.
        if (options.changedOnly && slot.runsCurrentSettings()) continue;
        const outcome = await slot.replace(options.readyTimeoutMs);
        if (outcome !== null) {
          result.failed = { index: slot.index, reason: outcome };
          this.#rolloutStopped(slot.index, outcome);
          break;
        }
        result.restarted.push(slot.index);
      }
      return result;
    });
  }

  /** A rollout that ended early: an error, unless the service is stopping (then nothing failed). */
  #rolloutStopped(index: number | null, reason: string): void {
    if (this.#stopping) this.#log('info', 'rolling restart ended: the service is stopping', index);
    else this.#log('error', 'rolling restart stopped', index, { reason });
  }

  /** Up: new instances start. Down: the highest indexes leave rotation, drain, then stop. */
  scale(count: number): Promise<void> {
    return this.#serial(async () => {
      this.#config = { ...this.#config, instances: count };
      // Not started yet (waiting for dependencies): it will start with the new count.
      if (!this.#started) return;
      // New instances are launched (spawned, not yet ready) before it resolves, as the docs say.
      const launches: Promise<void>[] = [];
      while (this.#slots.length < count && !this.#stopping) launches.push(this.#addSlot());
      const leaving = this.#slots.slice(count);
      // Every launch and retirement settles before the slots are counted again, whatever one of them threw.
      const settled = await Promise.allSettled([...launches, ...leaving.map((slot) => slot.retire(true))]);
      this.#slots = this.#slots.filter((slot) => !leaving.includes(slot));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** A new slot, launching; resolves once its launch is done (spawned or failed, not ready). */
  #addSlot(): Promise<void> {
    const service = this;
    const context = {
      get config() {
        return service.#config;
      },
      deps: this.#deps,
      get stopping() {
        return service.#stopping;
      },
      log: (level: LogLevel, msg: string, index: number | null, fields?: Record<string, unknown>) =>
        this.#log(level, msg, index, fields),
      output: (line: OutputLine) => this.#output(line),
      stderrTail: () => this.stderrTail(),
    };
    const slot = new InstanceSlot(context, this.#slots.length);
    this.#slots.push(slot);
    return slot.launch();
  }

  #log(level: LogLevel, msg: string, index: number | null, fields: Record<string, unknown> = {}): void {
    const where = index === null ? { service: this.name } : { service: this.name, instance: index };
    this.#deps.onEvent({ type: 'log', level, msg, fields: { ...where, ...fields } });
  }

  #output(line: OutputLine): void {
    if (line.stream === 'stderr') {
      this.#stderrTail.push(line.line);
      if (this.#stderrTail.length > STDERR_TAIL) this.#stderrTail.shift();
    }
    this.#deps.onOutput(line);
  }
}
