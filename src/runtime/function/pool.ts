// The execution environments of one function and which one takes the next request: at most `concurrency`
// each; another started on demand when every one is at its target (scale from zero), the request held
// while it starts (as Knative's activator holds it); past maxInstances refused (429, Lambda) or queued
// (Knative); an idle one ended after idleTimeout (the last after the scale-to-zero grace too); minInstances
// kept warm. An init is capped and tried twice. No I/O of its own: environments come from `create`, time
// from the clock.
import type { Clock, TimerHandle } from '../../clock.js';

import {
  initTimeoutError,
  type Lease,
  type PoolCounters,
  PoolError,
  type PooledEnvironment,
  type PoolHooks,
  type PoolSettings,
} from './pool-types.js';

export {
  type Lease,
  type PoolCounters,
  PoolError,
  type PooledEnvironment,
  type PoolHooks,
  type PoolSettings,
};

/** `draining`: takes no new request, and is ended once its requests in flight are answered. */
type SlotState = 'starting' | 'ready' | 'draining' | 'ending';

interface Slot<E> {
  env: E | null;
  state: SlotState;
  provisioned: boolean;
  inFlight: number;
  invocations: number;
  initMs: number | null;
  idleTimer: TimerHandle | undefined;
  graced: boolean;
}

interface Waiter<E> {
  resolve(lease: Lease<E>): void;
  reject(error: PoolError): void;
  timer: TimerHandle | undefined;
  /** The environment this request started, if it started one. */
  started: Slot<E> | null;
}

export class EnvironmentPool<E extends PooledEnvironment> {
  readonly counters: PoolCounters = {
    coldStarts: 0,
    inits: 0,
    initFailures: 0,
    invocations: 0,
    reaped: 0,
    ended: 0,
    throttled: 0,
  };
  readonly #s: PoolSettings;
  readonly #hooks: PoolHooks<E>;
  readonly #clock: Clock;
  readonly #slots = new Set<Slot<E>>();
  readonly #leases = new WeakMap<Lease<E>, Slot<E>>();
  readonly #waiters: Waiter<E>[] = [];
  readonly #launches = new Set<Promise<void>>();
  #stopping = false;
  #replenishTimer: TimerHandle | undefined;
  #provisionFailures = 0;

  constructor(settings: PoolSettings, hooks: PoolHooks<E>, clock: Clock) {
    this.#s = settings;
    this.#hooks = hooks;
    this.#clock = clock;
  }

  /** Starts the environments kept warm. */
  start(): void {
    this.#replenish();
  }

  get #hardLimit(): number {
    return this.#s.concurrency === 0 ? Number.POSITIVE_INFINITY : this.#s.concurrency;
  }

  /** Environments that count against maxInstances: starting and ready (one draining is being ended). */
  #live(): number {
    let n = 0;
    for (const slot of this.#slots) if (slot.state === 'starting' || slot.state === 'ready') n++;
    return n;
  }

  /** Waiting requests that the environments being started will not take. */
  #uncovered(): number {
    let starting = 0;
    for (const slot of this.#slots) if (slot.state === 'starting') starting++;
    return this.#waiters.length - starting * this.#s.target;
  }

  #room(limit: number): Slot<E> | undefined {
    for (const slot of this.#slots) if (slot.state === 'ready' && slot.inFlight < limit) return slot;
    return undefined;
  }

  /** An environment for one request: now, after a cold start, or a PoolError (429, init failed, ...). */
  acquire(): Promise<Lease<E>> {
    if (this.#stopping)
      return Promise.reject(new PoolError('stopped', 'Stopped', 'the function is stopping'));
    const free = this.#room(this.#s.target);
    if (free) return Promise.resolve(this.#lease(free));
    return new Promise<Lease<E>>((resolve, reject) => {
      const waiter: Waiter<E> = { resolve, reject, timer: undefined, started: null };
      this.#waiters.push(waiter);
      if (this.#uncovered() > 0 && this.#live() < this.#s.maxInstances) waiter.started = this.#launch(false);
      // Past the target but below the hard limit (Knative), an environment takes it now while another starts.
      const below = this.#room(this.#hardLimit);
      if (below) {
        this.#dropWaiter(waiter);
        resolve(this.#lease(below));
        return;
      }
      if (this.#uncovered() > 0 && this.#s.overflow === 'throttle') {
        this.#dropWaiter(waiter);
        this.counters.throttled++;
        reject(
          new PoolError(
            'throttled',
            'TooManyRequestsException',
            `Rate Exceeded: ${this.#s.maxInstances} environment${this.#s.maxInstances === 1 ? '' : 's'} busy (maxInstances)`,
          ),
        );
        return;
      }
      waiter.timer = this.#clock.setTimeout(() => {
        this.#dropWaiter(waiter);
        reject(
          new PoolError(
            'wait-timeout',
            'ServiceUnavailable',
            `no environment was free within ${this.#s.waitTimeoutMs}ms`,
          ),
        );
      }, this.#s.waitTimeoutMs);
    });
  }

  #dropWaiter(waiter: Waiter<E>): void {
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
    this.#clock.clearTimeout(waiter.timer);
  }

  #lease(slot: Slot<E>): Lease<E> {
    slot.inFlight++;
    slot.graced = false;
    this.#clock.clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    const cold = slot.invocations === 0 && !slot.provisioned;
    slot.invocations++;
    this.counters.invocations++;
    if (cold) this.counters.coldStarts++;
    const lease: Lease<E> = { env: slot.env as E, cold, initMs: cold ? slot.initMs : null };
    this.#leases.set(lease, slot);
    return lease;
  }

  /** The request is answered: the environment takes the next one, or starts idling. */
  release(lease: Lease<E>): void {
    const slot = this.#leases.get(lease);
    if (!slot) return;
    this.#leases.delete(lease);
    slot.inFlight--;
    if (slot.state === 'ready') this.#serveWaiters(slot);
    else if (slot.state === 'draining' && slot.inFlight === 0) this.#end(slot, 'ended', true);
  }

  /**
   * The request ended its environment (timeout, memory): it is killed, and the next request is cold.
   * `unrun`: the environment ended before it took the request, which goes elsewhere: not an invocation.
   */
  discard(lease: Lease<E>, unrun = false): void {
    const slot = this.#leases.get(lease);
    if (!slot) return;
    this.#leases.delete(lease);
    slot.inFlight--;
    if (unrun) {
      slot.invocations--;
      this.counters.invocations--;
      if (lease.cold) this.counters.coldStarts--;
    }
    this.#end(slot, 'ended', true);
  }

  /**
   * The request timed out on an environment that other requests share (a concurrency above 1): ending it
   * now would fail them all, so it takes no new request and is ended (killed: the timed-out invocation may
   * never finish) once the others are answered, each still within its own timeout. Another environment
   * takes its place for new requests at once.
   */
  retire(lease: Lease<E>): void {
    const slot = this.#leases.get(lease);
    if (!slot) return;
    this.#leases.delete(lease);
    slot.inFlight--;
    if (slot.inFlight === 0) {
      this.#end(slot, 'ended', true);
      return;
    }
    if (slot.state !== 'ready') return;
    slot.state = 'draining';
    this.#clock.clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    this.#replace();
  }

  /**
   * Hands waiting requests to an environment with room: first the request that started it (as Lambda
   * binds it), then requests that started none, oldest first.
   */
  #serveWaiters(slot: Slot<E>): void {
    while (slot.state === 'ready' && slot.inFlight < this.#hardLimit) {
      const waiter =
        this.#waiters.find((w) => w.started === slot) ?? this.#waiters.find((w) => w.started === null);
      if (!waiter) break;
      this.#dropWaiter(waiter);
      waiter.resolve(this.#lease(slot));
    }
    if (slot.inFlight === 0 && slot.state === 'ready' && !slot.idleTimer) {
      slot.idleTimer = this.#clock.setTimeout(() => this.#idleExpired(slot), this.#s.idleTimeoutMs);
    }
  }

  #idleExpired(slot: Slot<E>): void {
    slot.idleTimer = undefined;
    if (slot.inFlight > 0 || slot.state !== 'ready' || this.#live() <= this.#s.minInstances) return;
    if (this.#live() === 1 && this.#s.scaleToZeroGraceMs > 0 && !slot.graced) {
      slot.graced = true;
      slot.idleTimer = this.#clock.setTimeout(() => this.#idleExpired(slot), this.#s.scaleToZeroGraceMs);
      return;
    }
    this.#end(slot, 'reaped', false);
  }

  #launch(provisioned: boolean): Slot<E> {
    const slot: Slot<E> = {
      env: null,
      state: 'starting',
      provisioned,
      inFlight: 0,
      invocations: 0,
      initMs: null,
      idleTimer: undefined,
      graced: false,
    };
    this.#slots.add(slot);
    const launch = this.#init(slot).then(
      () => {
        if (provisioned) this.#provisionFailures = 0;
        const env = slot.env as E;
        void env.exited.then(() => this.#onExit(slot));
        this.#serveWaiters(slot);
      },
      (error: Error) => this.#initFailed(slot, error),
    );
    this.#launches.add(launch);
    void launch.finally(() => this.#launches.delete(launch));
    return slot;
  }

  /** Starts an environment and waits for its init, capped; a failed init is tried once more. */
  async #init(slot: Slot<E>): Promise<void> {
    let last: Error = new Error('no init');
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (this.#stopping) throw new PoolError('stopped', 'Stopped', 'the function is stopping');
      const began = this.#clock.now();
      let env: E;
      try {
        env = await this.#hooks.create(slot.provisioned);
      } catch (error) {
        last = error as Error;
        this.#hooks.initFailed(last, attempt);
        continue;
      }
      if (this.#stopping) {
        env.kill();
        await env.stop(0);
        throw new PoolError('stopped', 'Stopped', 'the function is stopping');
      }
      slot.env = env;
      let timer: TimerHandle | undefined;
      const capped = new Promise<never>((_, reject) => {
        timer = this.#clock.setTimeout(
          () => reject(initTimeoutError(this.#s.initTimeoutMs)),
          this.#s.initTimeoutMs,
        );
      });
      try {
        await Promise.race([env.ready, capped]);
        if (this.#stopping) throw new PoolError('stopped', 'Stopped', 'the function is stopping');
        slot.initMs = this.#clock.now() - began;
        slot.state = 'ready';
        this.counters.inits++;
        return;
      } catch (error) {
        last = error as Error;
        env.kill();
        await env.stop(0);
        slot.env = null;
        if (this.#stopping) throw last;
        this.#hooks.initFailed(last, attempt);
      } finally {
        this.#clock.clearTimeout(timer);
      }
    }
    throw last;
  }

  #initFailed(slot: Slot<E>, error: Error): void {
    this.#slots.delete(slot);
    if (this.#stopping) return;
    this.counters.initFailures++;
    const failure =
      error instanceof PoolError
        ? error
        : new PoolError(
            'init-failed',
            (error as { errorType?: string }).errorType ?? 'Runtime.InitError',
            `the environment could not start: ${error.message}`,
          );
    const own = this.#waiters.find((w) => w.started === slot);
    if (own) {
      this.#dropWaiter(own);
      own.reject(failure);
    }
    // Requests that counted on this environment get its failure, newest first.
    while (this.#uncovered() > 0 && !this.#room(this.#hardLimit)) {
      const waiter = this.#waiters.pop() as Waiter<E>;
      this.#clock.clearTimeout(waiter.timer);
      waiter.reject(failure);
    }
    if (slot.provisioned) {
      this.#provisionFailures++;
      this.#replenishLater();
    } else {
      // A warm environment may have been reaped while this one started, counted on to keep minInstances.
      this.#replenish();
    }
  }

  #onExit(slot: Slot<E>): void {
    if (slot.state === 'ending') return;
    this.#end(slot, 'ended', false);
  }

  /** Ends an environment: politely when it is reaped, at once when it failed (timeout, memory, crash). */
  #end(slot: Slot<E>, why: 'reaped' | 'ended', kill: boolean): void {
    if (slot.state === 'ending') return;
    slot.state = 'ending';
    this.#clock.clearTimeout(slot.idleTimer);
    this.counters[why]++;
    const env = slot.env as E;
    if (kill) env.kill();
    void env.stop(this.#s.stopTimeoutMs).finally(() => this.#slots.delete(slot));
    this.#replace();
  }

  /** After an environment stopped taking requests (ended, draining): keeps minInstances and serves waiters. */
  #replace(): void {
    if (this.#stopping) return;
    this.#replenish();
    // Requests waiting for a free environment may start one now that this one is gone.
    while (this.#uncovered() > 0 && this.#live() < this.#s.maxInstances) {
      const waiter = this.#waiters.find((w) => w.started === null);
      const slotStarted = this.#launch(false);
      if (waiter) waiter.started = slotStarted;
    }
  }

  /** Keeps `minInstances` environments (starting or ready). */
  #replenish(): void {
    if (this.#stopping || this.#replenishTimer) return;
    for (let n = this.#live(); n < this.#s.minInstances; n++) this.#launch(true);
  }

  /** After a provisioned environment failed: try again later, waiting longer each time (1 s to 30 s). */
  #replenishLater(): void {
    if (this.#replenishTimer || this.#stopping) return;
    const delay = Math.min(30_000, 1000 * 2 ** (this.#provisionFailures - 1));
    this.#replenishTimer = this.#clock.setTimeout(() => {
      this.#replenishTimer = undefined;
      this.#replenish();
    }, delay);
  }

  /** Each environment's state, for status. */
  snapshot(): {
    env: E | null;
    /** A draining environment is busy: it has requests in flight. */
    state: 'starting' | 'busy' | 'idle';
    inFlight: number;
    invocations: number;
    initMs: number | null;
    provisioned: boolean;
  }[] {
    return [...this.#slots]
      .filter((s) => s.state !== 'ending')
      .map((s) => ({
        env: s.env,
        state: s.state === 'starting' ? 'starting' : s.inFlight > 0 ? 'busy' : 'idle',
        inFlight: s.inFlight,
        invocations: s.invocations,
        initMs: s.initMs,
        provisioned: s.provisioned,
      }));
  }

  /** Every environment there is now, ending ones included (usage, kill). */
  environments(): E[] {
    return [...this.#slots].map((s) => s.env).filter((e): e is E => e !== null);
  }

  /** Refuses new requests, fails the waiting ones, and ends every environment (politely, then by force). */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    this.#clock.clearTimeout(this.#replenishTimer);
    for (const waiter of this.#waiters.splice(0)) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.reject(new PoolError('stopped', 'Stopped', 'the function is stopping'));
    }
    const ending = [...this.#slots].map((slot) => {
      this.#clock.clearTimeout(slot.idleTimer);
      slot.state = 'ending';
      return slot.env?.stop(timeoutMs);
    });
    await Promise.all([...ending, ...this.#launches]);
    await Promise.all(this.environments().map((env) => env.stop(timeoutMs)));
    this.#slots.clear();
  }

  kill(): void {
    for (const env of this.environments()) env.kill();
  }
}
