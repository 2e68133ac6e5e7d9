// One service's front: an HTTP listener that spreads requests round robin over the ready instances
// (http-proxy-3, a keep-alive agent per instance), retries a failed connect on the next instance,
// and pipes WebSocket upgrades through.
import http from 'node:http';
import type net from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { MsupError } from '../errors.js';
import { type Member, RoundRobin } from './balancer.js';

/** Below Node's default server.keepAliveTimeout (5 s), so a pooled socket is not reset under a request. */
const UPSTREAM_IDLE_MS = 4000;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const SEND_FAILURES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

interface Upstream extends Member {
  label: string;
  target: string;
  agent: http.Agent;
}

function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** nginx's rule: a failed connect may go to the next instance; a reset after sending only when idempotent. */
export function canRetry(error: NodeJS.ErrnoException, req: http.IncomingMessage): boolean {
  if (hasBody(req)) return false;
  const code = error.code ?? '';
  if (CONNECT_FAILURES.has(code)) return true;
  return SEND_FAILURES.has(code) && IDEMPOTENT.has(req.method ?? '');
}

function reply(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

export class ServiceProxy {
  readonly service: string;
  readonly #server: http.Server;
  readonly #proxy = createProxyServer({ xfwd: true });
  readonly #rotation = new RoundRobin<Upstream>();
  readonly #known = new Map<string, Upstream>();
  readonly #upgrades = new Set<net.Socket>();
  #closing = false;

  constructor(service: string) {
    this.service = service;
    this.#proxy.on('error', () => {});
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket as net.Socket, head));
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status =
        error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  /** Binds the front port; 0 picks a free one. Resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        const message =
          error.code === 'EADDRINUSE'
            ? `port ${port} for service "${this.service}" is already in use`
            : `cannot listen on port ${port} for service "${this.service}": ${error.message}`;
        const code = error.code === 'EADDRINUSE' ? 'MSUP_PORT_IN_USE' : 'MSUP_START_FAILED';
        reject(new MsupError(code, message, { cause: error, service: this.service, port }));
      };
      this.#server.once('error', onError);
      this.#server.listen({ port, host, exclusive: true }, () => {
        this.#server.off('error', onError);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /** An instance joins rotation. */
  add(key: string, label: string, port: number): void {
    let upstream = this.#known.get(key);
    if (!upstream) {
      const agent = new http.Agent({ keepAlive: true, timeout: UPSTREAM_IDLE_MS, scheduling: 'lifo' });
      upstream = { key, label, target: `http://127.0.0.1:${port}`, agent };
      this.#known.set(key, upstream);
    }
    this.#rotation.add(upstream);
  }

  /** An instance leaves rotation; requests already sent to it finish. */
  remove(key: string): void {
    this.#rotation.remove(key);
  }

  /** An instance is gone for good: out of rotation, its pooled connections closed. */
  forget(key: string): void {
    this.#rotation.remove(key);
    this.#known.get(key)?.agent.destroy();
    this.#known.delete(key);
  }

  get readyCount(): number {
    return this.#rotation.size;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#closing) {
      reply(res, 503, `${this.service} is shutting down`, { 'retry-after': '1', connection: 'close' });
      return;
    }
    const tried = new Set<string>();
    const attempt = (): void => {
      const upstream = this.#rotation.next(tried);
      if (!upstream) {
        if (tried.size > 0) reply(res, 502, `no instance of ${this.service} could take the request`);
        else reply(res, 503, `no ready instance of ${this.service}`, { 'retry-after': '1' });
        return;
      }
      tried.add(upstream.key);
      this.#proxy.web(req, res, { target: upstream.target, agent: upstream.agent }, (error) => {
        const err = error as NodeJS.ErrnoException;
        if (res.headersSent || res.destroyed) {
          res.destroy();
          return;
        }
        if (canRetry(err, req)) {
          attempt();
          return;
        }
        reply(res, 502, `${upstream.label} failed: ${err.code ?? err.message}`);
      });
    };
    attempt();
  }

  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => {});
    const upstream = this.#closing ? undefined : this.#rotation.next();
    if (!upstream) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    this.#upgrades.add(socket);
    socket.once('close', () => this.#upgrades.delete(socket));
    this.#proxy.ws(req, socket, head, { target: upstream.target }, () => {
      if (socket.writable && !socket.destroyed) {
        socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
    });
  }

  /** From now on, answer 503 (Retry-After) while instances stop. */
  beginClose(): void {
    this.#closing = true;
  }

  async close(): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    for (const socket of this.#upgrades) socket.destroy();
    for (const upstream of this.#known.values()) upstream.agent.destroy();
    this.#known.clear();
    this.#proxy.close();
    await closed;
  }
}
