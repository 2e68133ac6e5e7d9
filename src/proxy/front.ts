// The shared front: one listener that routes each request by host and longest path prefix to a
// service's balancer (optionally stripping the prefix), and answers 404 with the routes otherwise.
import type http from 'node:http';
import type net from 'node:net';
import { bind, createListener, DEFAULT_HEADERS_TIMEOUT_MS, type FrontLog } from './listener.js';
import { originForm, replySocket, replyText, targetAuthority } from './reply.js';
import { describeRoutes, hostName, matchRoute, type Route, sortRoutes } from './routes.js';
import type { ServiceProxy } from './server.js';

export class FrontProxy {
  #routes: Route[];
  readonly #upgraded = new Set<net.Socket>();
  readonly #lookup: (service: string) => ServiceProxy | undefined;
  readonly #server: http.Server;
  #closing = false;

  constructor(
    routes: readonly Route[],
    lookup: (service: string) => ServiceProxy | undefined,
    options: {
      headersTimeoutMs?: number;
      lingerTimeMs?: number;
      lingerTimeoutMs?: number;
      log?: FrontLog;
    } = {},
  ) {
    this.#routes = sortRoutes(routes);
    this.#lookup = lookup;
    this.#server = createListener(
      (req, res) => this.#handle(req, res),
      (req, socket, head) => this.#upgrade(req, socket, head),
      {
        headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        lingerTimeMs: options.lingerTimeMs,
        lingerTimeoutMs: options.lingerTimeoutMs,
        what: 'the shared front',
        ...(options.log ? { log: options.log } : {}),
      },
    );
  }

  /** The most client connections the front holds at once; more are refused (0: none). */
  setMaxConnections(max: number): void {
    this.#server.maxConnections = max > 0 ? max : Number.POSITIVE_INFINITY;
  }

  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return bind(this.#server, port, host, 'the shared front (proxy.port)');
  }

  #route(req: http.IncomingMessage) {
    const host = hostName(targetAuthority(req.url ?? '/') ?? req.headers.host);
    const url = originForm(req.url ?? '/') ?? req.url ?? '/';
    const match = matchRoute(this.#routes, host, url);
    const proxy = match ? this.#lookup(match.route.service) : undefined;
    return { host, url, match, proxy };
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#closing) {
      replyText(res, 503, 'msup is shutting down', { 'retry-after': '1', connection: 'close' });
      return;
    }
    const { host, url, match, proxy } = this.#route(req);
    if (!match || !proxy) {
      replyText(res, 404, describeRoutes(this.#routes, host, url));
      return;
    }
    proxy.handle(req, res, match.path);
  }

  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const { host, url, match, proxy } = this.#route(req);
    if (this.#closing) {
      replySocket(socket, 503, 'msup is shutting down', { 'Retry-After': '1' });
      return;
    }
    if (!match || !proxy) {
      replySocket(socket, 404, describeRoutes(this.#routes, host, url));
      return;
    }
    // Upgraded connections are no longer the HTTP server's: kept here, so a retiring front can cut them.
    this.#upgraded.add(socket);
    socket.once('close', () => this.#upgraded.delete(socket));
    proxy.upgrade(req, socket, head, match.path);
  }

  /** New routes and header timeout for the running front (a config reload). */
  configure(routes: readonly Route[], headersTimeoutMs: number): void {
    this.#routes = sortRoutes(routes);
    this.#server.headersTimeout = headersTimeoutMs;
  }

  beginClose(): void {
    this.#closing = true;
  }

  /**
   * Stops listening and closes idle connections; requests in flight may finish for `graceMs`, then
   * what is left is cut. For a front that moved to another port: msup goes on serving.
   */
  async retire(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      timer = setTimeout(() => {
        this.#server.closeAllConnections();
        for (const socket of this.#upgraded) socket.destroy();
        resolve();
      }, graceMs);
    });
    await closed;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    for (const socket of this.#upgraded) socket.destroy();
    await closed;
  }
}
