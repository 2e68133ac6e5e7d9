// Every listener of a project: a balancer per service (on its own front port, or reached only
// through the shared front), and the shared front itself; binding, lookup, URLs, closing.
import { isMsupError } from '../errors.js';
import type { ReloadResult, ResolvedConfig, ResolvedService } from '../types.js';
import { connectionBudget, defaultShare, fdLimit } from './connection-limits.js';
import { FrontProxy } from './front.js';
import type { FrontLog } from './listener.js';
import type { InstanceCounters } from './members.js';
import { ServiceProxy } from './server.js';

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export type SharedChange = Exclude<ReloadResult['sharedFront'], 'failed' | null>;

/** How long requests in flight on a shared front that moved may take to finish. */
const RETIRE_GRACE_MS = 5000;

export class Fronts {
  readonly #host: string;
  readonly #log: FrontLog | undefined;
  /** Client connections all fronts together may hold (from msup's file-descriptor limit). */
  readonly budget: number;
  /** Shared fronts that moved away and still finish their requests in flight. */
  readonly #retiring = new Set<FrontProxy>();
  /**
   * Balancers by service; `port` is null for a service reached only through the shared front;
   * `maxConnections` is the service's own setting (null: its share of the budget).
   */
  readonly #services = new Map<
    string,
    { proxy: ServiceProxy; port: number | null; maxConnections: number | null }
  >();
  /** `requested`: the configured port (0: any), `port`: the bound one; `config`: what it was built from. */
  #shared:
    | { proxy: FrontProxy; requested: number; port: number; host: string; config: ResolvedConfig }
    | undefined;

  /**
   * `host`: where front ports listen (default 127.0.0.1). `log`: refused connections and failed
   * accepts. `fdLimit`: msup's file-descriptor limit (default: read from the system).
   */
  constructor(host = '127.0.0.1', log?: FrontLog, limit: number | undefined = fdLimit()) {
    this.#host = host;
    this.#log = log;
    this.budget = connectionBudget(limit);
  }

  /**
   * Each listening front's connection limit: its own `maxConnections`, else an equal share of the
   * budget. Run whenever a front opens or closes, or a reload changes a setting.
   */
  #limit(): void {
    const own = [...this.#services.values()].filter((s) => s.port !== null);
    const share = defaultShare(this.budget, own.length + (this.#shared ? 1 : 0));
    for (const entry of own) entry.proxy.setMaxConnections(entry.maxConnections ?? share);
    this.#shared?.proxy.setMaxConnections(this.#shared.config.proxy.maxConnections ?? share);
  }

  /** A balancer for the service if it has a port or a route; binds its port (MSUP_PORT_IN_USE when taken). */
  async bindService(service: ResolvedService, config: ResolvedConfig): Promise<void> {
    const routed = config.proxy.routes.some((r) => r.service === service.name);
    if (service.port === null && !routed) return;
    const proxy = new ServiceProxy(service.name, {
      ...service.balancing,
      headersTimeoutMs: config.proxy.headersTimeoutMs,
      bodyTimeoutMs: config.proxy.bodyTimeoutMs,
      ...(this.#log ? { log: this.#log } : {}),
    });
    const maxConnections = service.balancing.maxConnections;
    this.#services.set(service.name, { proxy, port: null, maxConnections });
    if (service.port === null) return;
    const port = await proxy.listen(service.port, this.#host);
    this.#services.set(service.name, { proxy, port, maxConnections });
    this.#limit();
  }

  /** The shared front (`proxy.port`), routing by path and host to the services' balancers. */
  async bindShared(config: ResolvedConfig): Promise<void> {
    if (config.proxy.port === null) return;
    const proxy = new FrontProxy(config.proxy.routes, (name) => this.of(name), {
      headersTimeoutMs: config.proxy.headersTimeoutMs,
      ...(this.#log ? { log: this.#log } : {}),
    });
    const host = config.proxy.host ?? this.#host;
    const requested = config.proxy.port;
    this.#shared = { proxy, requested, port: requested, host, config };
    this.#shared.port = await proxy.listen(requested, host);
    this.#limit();
  }

  /** A reload's balancing settings for a service's running balancer (its mode stays). */
  configureService(service: ResolvedService, config: ResolvedConfig): void {
    const entry = this.#services.get(service.name);
    if (!entry) return;
    entry.proxy.configure({
      ...service.balancing,
      headersTimeoutMs: config.proxy.headersTimeoutMs,
      bodyTimeoutMs: config.proxy.bodyTimeoutMs,
    });
    entry.maxConnections = service.balancing.maxConnections;
    this.#limit();
  }

  /**
   * A reload's shared front: on the same port and host, new routes and timeout apply in place.
   * Otherwise the front binds its new address first, then the old one retires (its requests in flight
   * have RETIRE_GRACE_MS). When the new address cannot be bound, the old front stays and the error is
   * thrown. Only a new host on the same port must free the port first (cutting what is in flight);
   * if the new address then fails too, the front goes back to its old address.
   * Resolves with what changed, or null when there was no front before or after.
   */
  async applyShared(config: ResolvedConfig): Promise<SharedChange | null> {
    const old = this.#shared;
    const host = config.proxy.host ?? this.#host;
    if (old && config.proxy.port === old.requested && host === old.host) {
      old.proxy.configure(config.proxy.routes, config.proxy.headersTimeoutMs);
      old.config = config;
      this.#limit();
      return 'updated';
    }
    if (config.proxy.port === null) {
      this.#shared = undefined;
      if (old) this.#retire(old.proxy);
      this.#limit();
      return old ? 'removed' : null;
    }
    try {
      await this.bindShared(config);
    } catch (error) {
      this.#shared = old;
      const samePort = isMsupError(error, 'MSUP_PORT_IN_USE') && config.proxy.port === old?.port;
      if (!old || !samePort) throw error;
      await old.proxy.retire(0);
      try {
        await this.bindShared(config);
      } catch (again) {
        this.#shared = undefined;
        await this.bindShared(old.config).catch(() => {
          this.#shared = undefined;
        });
        throw again;
      }
      return 'moved';
    }
    if (old) this.#retire(old.proxy);
    return old ? 'moved' : 'added';
  }

  of(name: string): ServiceProxy | undefined {
    return this.#services.get(name)?.proxy;
  }

  /** The service's own front URL, or null when it has no port. */
  url(name: string): string | null {
    const port = this.#services.get(name)?.port;
    return port === undefined || port === null ? null : urlOf(this.#host, port);
  }

  sharedUrl(): string | null {
    return this.#shared ? urlOf(this.#shared.host, this.#shared.port) : null;
  }

  stats(name: string): Record<number, InstanceCounters> {
    return this.of(name)?.stats() ?? {};
  }

  /** From now on, the service's balancer (or every listener) answers 503 while instances stop. */
  beginClose(name?: string): void {
    if (name !== undefined) {
      this.of(name)?.beginClose();
      return;
    }
    for (const { proxy } of this.#services.values()) proxy.beginClose();
    this.#shared?.proxy.beginClose();
  }

  /** Closes and forgets one service's balancer. */
  async closeService(name: string): Promise<void> {
    const entry = this.#services.get(name);
    this.#services.delete(name);
    this.#limit();
    await entry?.proxy.close();
  }

  /**
   * The old front stops listening at once (its address is free for the rest of the reload); its requests
   * in flight finish in the background, for up to RETIRE_GRACE_MS.
   */
  #retire(front: FrontProxy): void {
    this.#retiring.add(front);
    void front.retire(RETIRE_GRACE_MS).finally(() => this.#retiring.delete(front));
  }

  async closeAll(): Promise<void> {
    const proxies = [...this.#services.values()].map((s) => s.proxy);
    this.#services.clear();
    // Fronts still retiring are cut now, like every other listener.
    const retiring = [...this.#retiring].map((front) => front.close());
    await Promise.all([...proxies.map((p) => p.close()), this.#shared?.proxy.close(), ...retiring]);
  }
}
