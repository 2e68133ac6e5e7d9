// One service: keeps `instances` copies running through a runtime, restarts them by policy, and
// reports every change as an event. It knows nothing of the proxy or of how probes run: the
// supervisor hands it those as functions.
import type {
  ExitInfo,
  InstanceInfo,
  InstanceState,
  OutputLine,
  ResolvedProbeSettings,
  ResolvedService,
  RunningInstance,
  Runtime,
} from '../types.js';
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
  ): ProbeHandle;
  /** The environment every instance starts from (msup's own). */
  baseEnv: Readonly<Record<string, string | undefined>>;
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

interface Slot {
  index: number;
  state: InstanceState;
  ready: boolean;
  restarts: number;
  consecutive: number;
  lastExit: ExitInfo | null;
  port: number | null;
  run: RunningInstance | null;
  key: string | null;
  probe: ProbeHandle | null;
  timer: NodeJS.Timeout | undefined;
  /** Pending "stayed up long enough" check for instances with no port and no probe. */
  startedTimer: NodeJS.Timeout | undefined;
  stopRequested: boolean;
  /** Settles once the current run's exit has been handled. */
  settled: Promise<void>;
}

export function describeExit(exit: ExitInfo): string {
  if (exit.error) return `could not start: ${exit.error}`;
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

export class Service {
  readonly config: ResolvedService;
  readonly #deps: ServiceDeps;
  readonly #slots: Slot[];
  readonly #stderrTail: string[] = [];
  #stopping = false;

  constructor(config: ResolvedService, deps: ServiceDeps) {
    this.config = config;
    this.#deps = deps;
    this.#slots = Array.from({ length: config.instances }, (_, index) => ({
      index,
      state: 'starting' as InstanceState,
      ready: false,
      restarts: 0,
      consecutive: 0,
      lastExit: null,
      port: null,
      run: null,
      key: null,
      probe: null,
      timer: undefined,
      startedTimer: undefined,
      stopRequested: false,
      settled: Promise.resolve(),
    }));
  }

  get name(): string {
    return this.config.name;
  }

  start(): void {
    for (const slot of this.#slots) void this.#launch(slot);
  }

  instances(): InstanceInfo[] {
    return this.#slots.map((slot) => this.#info(slot));
  }

  stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map((slot) => this.#stopSlot(slot)));
  }

  /** A forced stop: SIGKILL every instance's process group now. */
  kill(): void {
    this.#stopping = true;
    for (const slot of this.#slots) {
      slot.stopRequested = true;
      clearTimeout(slot.timer);
      slot.run?.kill();
    }
  }

  #info(slot: Slot): InstanceInfo {
    return {
      service: this.name,
      index: slot.index,
      pid: slot.run?.pid ?? null,
      port: slot.port,
      state: slot.state,
      ready: slot.ready,
      restarts: slot.restarts,
      lastExit: slot.lastExit,
      startedAt: slot.run?.startedAt ?? null,
    };
  }

  #label(slot: Slot): string {
    return `${this.name}#${slot.index}`;
  }

  #log(level: LogLevel, msg: string, slot: Slot | null, fields: Record<string, unknown> = {}): void {
    const where = slot ? { service: this.name, instance: slot.index } : { service: this.name };
    this.#deps.onEvent({ type: 'log', level, msg, fields: { ...where, ...fields } });
  }

  #setState(slot: Slot, state: InstanceState): void {
    slot.state = state;
    this.#deps.onEvent({ type: 'instance', instance: this.#info(slot) });
  }

  #setReady(slot: Slot, ready: boolean, detail: string, fromProbe = false): void {
    if (slot.ready === ready || slot.key === null) return;
    slot.ready = ready;
    if (ready) {
      slot.state = 'running';
      this.#deps.onEvent({
        type: 'ready',
        key: slot.key,
        label: this.#label(slot),
        port: slot.port as number,
        instance: this.#info(slot),
      });
      this.#log('info', 'ready', slot, { pid: slot.run?.pid, port: slot.port, detail });
    } else {
      this.#deps.onEvent({ type: 'unready', key: slot.key, instance: this.#info(slot) });
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

  async #launch(slot: Slot): Promise<void> {
    if (this.#stopping || slot.stopRequested) return;
    const port = await this.#deps.ports.allocate();
    if (this.#stopping || slot.stopRequested) {
      this.#deps.ports.release(port);
      return;
    }
    const { config } = this;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#deps.baseEnv)) if (v !== undefined) env[k] = v;
    Object.assign(env, config.env, {
      PORT: String(port),
      MSUP_SERVICE: config.name,
      MSUP_INSTANCE: String(slot.index),
      MSUP_INSTANCES: String(config.instances),
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
    slot.run = run;
    slot.port = port;
    slot.key = `${this.#label(slot)}:${run.pid ?? 'none'}`;
    slot.ready = false;
    // A crash-looping instance stays visibly in crash-loop until it proves itself ready.
    this.#setState(slot, slot.consecutive >= config.restart.crashLoopAfter ? 'crash-loop' : 'starting');
    this.#log('info', 'started', slot, { pid: run.pid, port, restarts: slot.restarts });
    slot.settled = run.exited.then((exit) => this.#onExit(slot, run, exit, port));
    if (run.pid === null) return;
    if (config.health) {
      slot.probe = this.#deps.monitor(
        config.health,
        { port, cwd: config.cwd, env },
        {
          onReady: (detail) => this.#setReady(slot, true, detail),
          onUnready: (detail) => this.#setReady(slot, false, detail, true),
        },
      );
    } else {
      slot.startedTimer = setTimeout(
        () => this.#setReady(slot, true, `up for ${STARTED_AFTER_MS}ms (no port, no health check)`),
        STARTED_AFTER_MS,
      );
    }
  }

  async #onExit(slot: Slot, run: RunningInstance, exit: ExitInfo, port: number): Promise<void> {
    clearTimeout(slot.startedTimer);
    slot.probe?.stop();
    slot.probe = null;
    this.#setReady(slot, false, describeExit(exit));
    const key = slot.key as string;
    slot.lastExit = exit;
    const requested = slot.stopRequested || this.#stopping;
    if (!requested) {
      this.#log(failed(exit) ? 'warn' : 'info', 'exited', slot, {
        pid: run.pid,
        code: exit.code,
        signal: exit.signal,
        uptimeMs: exit.uptimeMs,
        ...(exit.error ? { error: exit.error } : {}),
      });
    }
    // Whatever the main process left in its group goes too, so its port is free.
    await run.stop(this.config.stopTimeoutMs);
    this.#deps.onEvent({ type: 'gone', key });
    this.#deps.ports.release(port);
    slot.run = null;
    if (requested) {
      this.#setState(slot, 'stopped');
      return;
    }
    const decision = decideRestart(
      this.config.restart,
      { ...exit, requested: false },
      slot.consecutive,
      this.#deps.random(),
    );
    slot.consecutive = decision.consecutive;
    if (!decision.restart) {
      this.#setState(slot, 'exited');
      this.#log(decision.failed ? 'error' : 'info', 'not restarting', slot, {
        policy: this.config.restart.policy,
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
      slot.restarts++;
      void this.#launch(slot);
    }, decision.delayMs);
  }

  async #stopSlot(slot: Slot): Promise<void> {
    slot.stopRequested = true;
    clearTimeout(slot.timer);
    clearTimeout(slot.startedTimer);
    const run = slot.run;
    if (!run) {
      if (slot.state !== 'exited') this.#setState(slot, 'stopped');
      return;
    }
    slot.probe?.stop();
    slot.probe = null;
    this.#setReady(slot, false, 'stopping');
    this.#setState(slot, 'stopping');
    await run.stop(this.config.stopTimeoutMs);
    await slot.settled;
  }
}
