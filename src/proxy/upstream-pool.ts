// A keep-alive connection pool to one instance: requests without a body go through msup's own lean
// client (lean-pool.ts), over plain TCP or TLS; requests with one through undici (the only file that
// loads it, at the first such request: a process that never forwards a body never loads it), which
// streams and frames them; http-proxy-3 still carries upgrades. The sidecar program uses it too, over
// TLS to its peers.
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'node:tls';
import type { Pool } from 'undici';
import { type InterimFilter, skipInterim } from './interim.js';
import { LeanPool } from './lean-pool.js';

/** Below Node's default server.keepAliveTimeout (5 s), so a pooled socket is not reset under a request. */
export const UPSTREAM_IDLE_MS = 4000;
/** Time to open a connection to an instance (requests, and upgrades: upgrade.ts). */
export const CONNECT_TIMEOUT_MS = 2000;

/** undici's raw handler callbacks, the cheapest way to pass a response through. */
export interface ExchangeHandler {
  onConnect(abort: (reason?: Error) => void): void;
  /** `rawHeaders`: Buffers from undici, strings (latin1) from the lean client. */
  onHeaders(
    status: number,
    rawHeaders: readonly (Buffer | string)[],
    resume: () => void,
    statusText: string,
  ): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: Buffer[] | null): void;
  onError(error: Error): void;
  /**
   * The request went to the socket: undici calls onBodySent for each piece of a body it writes and
   * onRequestSent when the whole request is written, the lean client onRequestSent once the head is
   * written (its onConnect comes before it connects). A failure before either: nothing was sent.
   */
  onBodySent?(): void;
  onRequestSent?(): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: string[];
  body: Buffer | NodeJS.ReadableStream | null;
  /** Time allowed for the response headers once the request is sent (0: none). */
  headersTimeout: number;
}

export interface UpstreamPool {
  dispatch(request: UpstreamRequest, handler: ExchangeHandler): void;
  /** No new requests; idle connections close, busy ones after their response. */
  close(): Promise<void>;
  /** Every connection closed now. */
  destroy(): Promise<void>;
}

let undici: typeof import('undici') | undefined;

/** The interim-response filter on each of undici's connections (interim.ts). */
const filters = new WeakMap<object, InterimFilter>();

/**
 * undici's connector (its connect timeout, TLS session cache, keep-alive), each socket with a filter on
 * it. undici says when a request goes out on a socket with its diagnostics channel (the only place it
 * names the socket; the channel is the process's: other undici copies' sockets have no filter here).
 */
function filteringConnector(u: typeof import('undici'), tls: ConnectionOptions | undefined) {
  const connect = u.buildConnector({ ...(tls as object), timeout: CONNECT_TIMEOUT_MS });
  if (!subscribed) {
    subscribed = true;
    diagnosticsChannel.subscribe('undici:client:sendHeaders', (message) => {
      filters.get((message as { socket: object }).socket)?.expectResponse();
    });
  }
  return (options: Parameters<typeof connect>[0], callback: Parameters<typeof connect>[1]) =>
    connect(options, (error, socket) => {
      if (socket) filters.set(socket, skipInterim(socket));
      (callback as (error: Error | null, socket: unknown) => void)(error, socket);
    });
}
let subscribed = false;

function undiciPool(host: string, port: number, tls: ConnectionOptions | undefined): Pool {
  // Loaded at first use (about 16 MB of RSS, 6 MB of it heap, in a process with http and tls loaded),
  // so neither msup nor a sidecar pays for it before a request with a body.
  undici ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  const pool = new undici.Pool(
    `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    {
      keepAliveTimeout: UPSTREAM_IDLE_MS,
      keepAliveMaxTimeout: UPSTREAM_IDLE_MS,
      pipelining: 1,
      connect: filteringConnector(undici, tls),
    },
  );
  pool.on('connectionError', () => {});
  return pool;
}

/** With `tls`, the pool speaks HTTPS, its connections opened with those options (a client certificate, ...). */
export function createUpstreamPool(host: string, port: number, tls?: ConnectionOptions): UpstreamPool {
  const lean = new LeanPool(host, port, UPSTREAM_IDLE_MS, CONNECT_TIMEOUT_MS, tls);
  let bodies: Pool | undefined;
  return {
    dispatch(request, handler) {
      if (request.body === null) {
        lean.dispatch(request, handler);
        return;
      }
      bodies ??= undiciPool(host, port, tls);
      bodies.dispatch(
        {
          method: request.method as 'GET',
          path: request.path,
          headers: request.headers,
          body: request.body as never,
          headersTimeout: request.headersTimeout,
          bodyTimeout: 0,
        },
        handler as never,
      );
    },
    close: async () => {
      lean.close();
      await bodies?.close().catch(() => {});
    },
    destroy: async () => {
      lean.destroy();
      await bodies?.destroy().catch(() => {});
    },
  };
}
