// One service's balancer and front: the instances in rotation (Members), a keep-alive pool per
// instance, the hold window while none is ready, drains, and the listener on the service's own
// port (HTTP, or TCP in `mode: 'tcp'`). The shared front hands requests to it too.
import type http from 'node:http';
import type net from 'node:net';
import { atMostEvery } from './connection-limits.js';
import { Holds } from './holds.js';
import { type ForwardTarget, forward } from './http-forward.js';
import {
  bind,
  connectionReports,
  createListener,
  DEFAULT_BODY_TIMEOUT_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  type FrontLog,
  listenError,
  REPORT_EVERY_MS,
} from './listener.js';
import { type BalancingSettings, type InstanceCounters, type Member, Members } from './members.js';
import { instanceGone } from './port-check.js';
import { replyText } from './reply.js';
import { RequestMetrics } from './request-metrics.js';
import { DEFAULT_RETRY_BUDGET, RetryBudget, type RetryBudgetSettings } from './retry.js';
import { defaultTcpIo, listenTcp } from './tcp.js';
import type { TcpIo, TcpListening } from './tcp-io.js';
import { createUpgradeProxy } from './upgrade.js';
import { createUpstreamPool, type UpstreamPool } from './upstream-pool.js';
import { Work } from './work.js';

export interface ServiceProxyOptions extends Partial<BalancingSettings> {
  mode?: 'http' | 'tcp';
  /** How long a request waits for a ready instance before 503 (Caddy's lb_try_duration). */
  holdTimeoutMs?: number;
  /** Time an instance has to send response headers once the request is sent (0: no limit). */
  responseTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** How long a request body may pause while msup waits for it (0: no limit); then 408. */
  bodyTimeoutMs?: number;
  /** How long the rest of a body answered early is read and dropped, in all and between reads (linger.ts). */
  lingerTimeMs?: number;
  lingerTimeoutMs?: number;
  retryBudget?: RetryBudgetSettings;
  /** TCP mode's sockets (default: libuv handles where Node has them, else net.Socket). */
  tcpIo?: TcpIo;
  /** Where the front reports refused connections and failed accepts. */
  log?: FrontLog;
  now?: () => number;
  random?: () => number;
}

export const BALANCER_DEFAULTS = {
  mode: 'http',
  strategy: 'round-robin',
  weights: [] as readonly number[],
  maxFails: 1,
  failTimeoutMs: 10_000,
  holdTimeoutMs: 5000,
  responseTimeoutMs: 60_000,
} as const;

function balancingOf(options: Partial<BalancingSettings>): BalancingSettings {
  return {
    strategy: options.strategy ?? BALANCER_DEFAULTS.strategy,
    weights: options.weights ?? BALANCER_DEFAULTS.weights,
    maxFails: options.maxFails ?? BALANCER_DEFAULTS.maxFails,
    failTimeoutMs: options.failTimeoutMs ?? BALANCER_DEFAULTS.failTimeoutMs,
  };
}

export class ServiceProxy implements ForwardTarget {
  readonly service: string;
  readonly mode: 'http' | 'tcp';
  readonly members: Members;
  readonly budget: RetryBudget;
  readonly metrics = new RequestMetrics();
  holdTimeoutMs: number;
  responseTimeoutMs: number;
  bodyTimeoutMs: number;
  #headersTimeoutMs: number;
  readonly #pools = new Map<string, UpstreamPool>();
  readonly #work = new Work();
  /** Attempts waiting for response headers that could go elsewhere, by member. */
  readonly #awaiting = new Work();
  readonly #holds = new Holds();
  readonly #upgrades = createUpgradeProxy();
  readonly #tcpIo: TcpIo | undefined;
  readonly #log: FrontLog | undefined;
  readonly #linger: { lingerTimeMs?: number; lingerTimeoutMs?: number };
  #server: http.Server | undefined;
  #tcp: TcpListening | undefined;
  /** Open client connections past which the front refuses new ones (0: none). Set by Fronts. */
  #maxConnections = 0;
  #closing = false;

  constructor(service: string, options: ServiceProxyOptions = {}) {
    this.service = service;
    this.mode = options.mode ?? BALANCER_DEFAULTS.mode;
    this.holdTimeoutMs = options.holdTimeoutMs ?? BALANCER_DEFAULTS.holdTimeoutMs;
    this.responseTimeoutMs = options.responseTimeoutMs ?? BALANCER_DEFAULTS.responseTimeoutMs;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    this.#tcpIo = options.tcpIo;
    this.#log = options.log;
    this.#linger = { lingerTimeMs: options.lingerTimeMs, lingerTimeoutMs: options.lingerTimeoutMs };
    this.budget = new RetryBudget(options.retryBudget ?? DEFAULT_RETRY_BUDGET);
    this.members = new Members(balancingOf(options), {
      now: options.now ?? Date.now,
      random: options.random ?? Math.random,
    });
  }

  /**
   * New settings for a running balancer (a config reload): strategy, weights, ejection thresholds,
   * hold window, response, header and body timeouts. The mode cannot change: that needs a new listener.
   */
  configure(
    options: Omit<
      ServiceProxyOptions,
      'mode' | 'tcpIo' | 'retryBudget' | 'lingerTimeMs' | 'lingerTimeoutMs' | 'now' | 'random'
    >,
  ): void {
    this.members.configure(balancingOf(options));
    this.holdTimeoutMs = options.holdTimeoutMs ?? BALANCER_DEFAULTS.holdTimeoutMs;
    this.responseTimeoutMs = options.responseTimeoutMs ?? BALANCER_DEFAULTS.responseTimeoutMs;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    if (this.#server) this.#server.headersTimeout = this.#headersTimeoutMs;
  }

  /** The most client connections the service's own front holds at once; more are refused (0: none). */
  setMaxConnections(max: number): void {
    this.#maxConnections = max;
    if (this.#server) this.#server.maxConnections = max > 0 ? max : Number.POSITIVE_INFINITY;
    this.#tcp?.setMaxConnections(max);
  }

  get closing(): boolean {
    return this.#closing;
  }

  get readyCount(): number {
    return this.members.readyCount;
  }

  /** Binds the service's own front port; 0 picks a free one. Resolves with the bound port. */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    const what = `service "${this.service}"`;
    if (this.mode === 'tcp') {
      let tcp: TcpListening;
      const reports = connectionReports(what, this.#log);
      try {
        tcp = await listenTcp(this, this.#tcpIo ?? defaultTcpIo(host), host, port, reports);
        tcp.setMaxConnections(this.#maxConnections);
      } catch (error) {
        throw listenError(error as NodeJS.ErrnoException, port, what, this.service);
      }
      // A close() that came while binding found nothing to close: the listener closes now.
      if (this.#closing) await tcp.close();
      else this.#tcp = tcp;
      return tcp.port;
    }
    this.#server = createListener(
      (req, res) => this.handle(req, res),
      (req, socket, head) => this.upgrade(req, socket, head),
      {
        headersTimeoutMs: this.#headersTimeoutMs,
        what,
        ...this.#linger,
        ...(this.#log ? { log: this.#log } : {}),
      },
    );
    this.setMaxConnections(this.#maxConnections);
    return bind(this.#server, port, host, what, this.service);
  }

  /** An HTTP request for this service (from its own port or the shared front, which may rewrite the path). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, path?: string): void {
    if (this.#closing) {
      this.metrics.own(503);
      replyText(res, 503, `${this.service} is shutting down`, { 'retry-after': '1', connection: 'close' });
      return;
    }
    forward(this, req, res, path);
  }

  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, path?: string): void {
    this.#upgrades.upgrade(this, req, socket, head, path);
  }

  /**
   * An instance joins rotation; requests held for a ready instance go to it. `sidecar`: msup's sidecar
   * answers at the endpoint (its not-forwarded 503s are believed; see Member).
   */
  add(
    key: string,
    label: string,
    endpoint: { host: string; port: number; inProcess?: UpstreamPool; sidecar?: boolean },
  ): void {
    // An instance served in msup's own process (a handler function's gateway) brings its own pool.
    if (endpoint.inProcess) this.#pools.set(key, endpoint.inProcess);
    this.members.add(key, label, endpoint);
    this.#holds.wakeAll();
  }

  /** An instance leaves rotation; requests already sent to it finish. */
  remove(key: string): void {
    this.members.remove(key);
  }

  /** An instance is gone for good: out of rotation, its pooled connections closed. */
  forget(key: string): void {
    this.members.forget(key);
    const pool = this.#pools.get(key);
    this.#pools.delete(key);
    void pool?.destroy();
  }

  /**
   * Resolves once `key` has no request in flight and no upgraded or TCP connection open, or after
   * `timeoutMs`, when whatever is left is cut. Call it after `remove(key)`.
   */
  drain(key: string, timeoutMs: number): Promise<void> {
    return this.#work.drain(key, timeoutMs);
  }

  /** Per-instance counters, by instance index. */
  stats(): Record<number, InstanceCounters> {
    return this.members.stats();
  }

  /** Requests waiting now for an instance to join (the hold window). */
  get heldNow(): number {
    return this.#holds.size;
  }

  pool(member: Member): UpstreamPool {
    let pool = this.#pools.get(member.key);
    if (!pool) {
      pool = createUpstreamPool(member.host, member.port);
      this.#pools.set(member.key, pool);
    }
    return pool;
  }

  /** Out of rotation or forgotten (msup saw it exit or stop), or its port stops taking connections. */
  gone(member: Member): Promise<boolean> {
    return instanceGone(
      member.host,
      member.port,
      () => !member.inRotation || this.members.get(member.key) !== member,
    );
  }

  track(member: Member, destroy: () => void): () => void {
    return this.#work.track(member.key, destroy);
  }

  awaiting(member: Member, cut: () => void): () => void {
    return this.#awaiting.track(member.key, cut);
  }

  /** One log line per 10 s at most, as the fronts' other reports. */
  readonly #shortage = atMostEvery(REPORT_EVERY_MS, (code: string) =>
    this.#log?.('error', 'msup is out of file descriptors: a request could not be passed on', {
      service: this.service,
      code,
    }),
  );

  outOfDescriptors(code: string): void {
    this.#shortage(code);
  }

  stalled(member: Member): void {
    // Requests waiting on it go elsewhere only when there is an elsewhere: the last healthy instance is
    // not ejected, and a request cut from it would find no other and wait out its hold for a 502.
    if (this.members.stall(member)) this.#awaiting.cut(member.key);
  }

  hold(deadline: number, wake: () => void, expire: () => void): () => void {
    this.metrics.held++;
    return this.#holds.hold(deadline, wake, expire);
  }

  /** From now on, answer 503 (Retry-After) while instances stop; held requests get it at once. */
  beginClose(): void {
    this.#closing = true;
    this.#holds.wakeAll();
  }

  async close(): Promise<void> {
    this.beginClose();
    const server = this.#server;
    const closed = Promise.all([
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined,
      this.#tcp?.close(),
    ]);
    server?.closeAllConnections();
    this.#work.cutAll();
    await Promise.all([...this.#pools.values()].map((pool) => pool.destroy()));
    this.#pools.clear();
    this.#upgrades.close();
    await closed;
  }
}
