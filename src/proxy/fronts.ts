// Every listener of a project: a balancer per service (on its own front port, or reached only
// through the shared front), and the shared front itself; binding, lookup, URLs, closing.
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { FrontProxy } from './front.js';
import type { InstanceCounters } from './members.js';
import { ServiceProxy } from './server.js';

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export class Fronts {
  readonly #host: string;
  /** Balancers by service; `port` is null for a service reached only through the shared front. */
  readonly #services = new Map<string, { proxy: ServiceProxy; port: number | null }>();
  #shared: { proxy: FrontProxy; port: number; host: string } | undefined;

  /** `host`: where front ports listen (default 127.0.0.1). */
  constructor(host = '127.0.0.1') {
    this.#host = host;
  }

  /** A balancer for the service if it has a port or a route; binds its port (MSUP_PORT_IN_USE when taken). */
  async bindService(service: ResolvedService, config: ResolvedConfig): Promise<void> {
    const routed = config.proxy.routes.some((r) => r.service === service.name);
    if (service.port === null && !routed) return;
    const proxy = new ServiceProxy(service.name, {
      ...service.balancing,
      headersTimeoutMs: config.proxy.headersTimeoutMs,
    });
    this.#services.set(service.name, { proxy, port: null });
    if (service.port === null) return;
    const port = await proxy.listen(service.port, this.#host);
    this.#services.set(service.name, { proxy, port });
  }

  /** The shared front (`proxy.port`), routing by path and host to the services' balancers. */
  async bindShared(config: ResolvedConfig): Promise<void> {
    if (config.proxy.port === null) return;
    const proxy = new FrontProxy(config.proxy.routes, (name) => this.of(name), {
      headersTimeoutMs: config.proxy.headersTimeoutMs,
    });
    const host = config.proxy.host ?? this.#host;
    this.#shared = { proxy, port: config.proxy.port, host };
    this.#shared.port = await proxy.listen(config.proxy.port, host);
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
    await entry?.proxy.close();
  }

  async closeAll(): Promise<void> {
    const proxies = [...this.#services.values()].map((s) => s.proxy);
    this.#services.clear();
    await Promise.all([...proxies.map((p) => p.close()), this.#shared?.proxy.close()]);
  }
}
