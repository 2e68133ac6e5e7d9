// msup's own keep-alive client for requests without a body (most of them): one request at a time per
// connection, over plain TCP or TLS (the sidecars' mutual TLS), the request head written in one piece,
// the response framed by response-parser.ts and passed on as it arrives. It costs a fraction of undici's
// per-request work; requests with a body still go through undici (upstream-pool.ts), which streams and
// frames them.
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { ResponseParser } from './response-parser.js';
import type { ExchangeHandler, UpstreamRequest } from './upstream-pool.js';

/** A header value or path msup will not write to an instance (answered 400). */
export class InvalidRequest extends Error {
  readonly code = 'MSUP_INVALID_REQUEST';
}

/** The code of a reused connection's close before any answer (retry.ts, http-forward.ts). */
export const STALE_CONNECTION = 'MSUP_STALE_CONNECTION';

/**
 * How soon after a request went out on a reused connection its close, with no byte of answer, is taken
 * for the idle-close race (the instance closed the connection before it read the request): that close
 * arrives at once on loopback; the margin is for msup's own event loop under load.
 */
const STALE_WITHIN_MS = 200;

/** An error with one of msup's codes for what happened on the connection (see retry.ts). */
function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Taken off an instance's `Keep-Alive: timeout=N` before reusing its connection, so that a request is not
 * sent just as the instance closes it: undici's default keepAliveTimeoutThreshold, so both pools agree.
 */
export const KEEP_ALIVE_HINT_MARGIN_MS = 2000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what these refuse
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
const BAD_PATH = /[\0-\x20\x7f]/;

/** The request head as one latin1 string (the bytes Node's parser read, as it decoded them). */
export function requestHead(request: UpstreamRequest, authority: string): string {
  if (BAD_PATH.test(request.path)) throw new InvalidRequest('invalid characters in the request target');
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  let host = false;
  const headers = request.headers;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    if (BAD_VALUE.test(value)) throw new InvalidRequest(`invalid characters in header ${name}`);
    if (name.length === 4 && name.toLowerCase() === 'host') host = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!host) head += `host: ${authority}\r\n`;
  return `${head}connection: keep-alive\r\n\r\n`;
}

class Connection {
  readonly socket: net.Socket;
  readonly #pool: LeanPool;
  readonly #parser: ResponseParser;
  #handler: ExchangeHandler | undefined;
  #timer: NodeJS.Timeout | undefined;
  #headersTimeout = 0;
  #paused = false;
  /** Requests sent on this connection, and whether the present one has had a byte of its answer. */
  #uses = 0;
  #answered = false;
  /** When the present request's head was written (performance.now()). */
  #sentAt = 0;
  /** The present request is a HEAD. */
  #head = false;
  connected = false;
  /** Until when (Date.now()) an idle connection may carry the next request. */
  idleUntil = 0;

  /** The socket's event once it can carry a request: 'connect', or 'secureConnect' after a TLS handshake. */
  readonly #ready: 'connect' | 'secureConnect';

  constructor(pool: LeanPool, socket: net.Socket, ready: 'connect' | 'secureConnect') {
    this.#pool = pool;
    this.socket = socket;
    this.#ready = ready;
    this.#parser = new ResponseParser({
      // A false from the handler stops the parser there (the rest of this read waits in it) and the
      // socket; the handler's resume goes on from that point.
      head: (status, reason, raw) => {
        clearTimeout(this.#timer);
        if (this.#handler && !this.#handler.onHeaders(status, raw, this.#resume, reason))
          return this.#pause();
        return true;
      },
      body: (chunk) => (this.#handler?.onData(chunk) ? true : this.#pause()),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('end', () => this.#ended());
    socket.on('close', () => this.#ended());
    socket.on('error', (error: Error) =>
      this.#failed(this.#stale((error as NodeJS.ErrnoException).code) ?? error),
    );
  }

  /**
   * A reused connection that closed or reset before a byte of the answer came: most likely the instance
   * closed it as idle just as the request went out (a race no keep-alive timeout can rule out), not a
   * failure of the instance. Go's HTTP client and browsers retry such a request on a new connection.
   */
  #stale(code: string | undefined): Error | undefined {
    if (this.#uses < 2 || this.#answered || !this.connected) return undefined;
    // Such a close follows the request at once; one that comes later is the instance's doing (a worker
    // killed by a timeout of its own, say), judged as any other.
    if (performance.now() - this.#sentAt > STALE_WITHIN_MS) return undefined;
    if (code !== undefined && code !== 'ECONNRESET' && code !== 'EPIPE') return undefined;
    this.#pool.staleSeen();
    return coded(STALE_CONNECTION, 'the instance closed a kept-alive connection as the request went out');
  }

  readonly #resume = (): void => {
    if (!this.#paused) return;
    this.#paused = false;
    const handler = this.#handler;
    if (handler && this.#parser.paused) {
      try {
        this.#parser.resume();
      } catch (error) {
        this.#failed(error as Error);
        return;
      }
      if (this.#handler === handler && this.#parser.done) {
        this.#complete();
        return;
      }
    }
    if (!this.#paused) this.socket.resume();
  };

  #pause(): false {
    this.#paused = true;
    this.socket.pause();
    return false;
  }

  send(head: string, handler: ExchangeHandler, noBody: boolean, headersTimeout: number): void {
    this.#handler = handler;
    this.#uses++;
    this.#answered = false;
    this.#headersTimeout = headersTimeout;
    this.#head = noBody;
    this.#parser.expect(noBody);
    // Bound to this request: a late abort from a finished exchange cannot cut the next one.
    handler.onConnect((reason?: Error) => {
      if (this.#handler === handler) this.#failed(reason ?? coded('MSUP_ABORTED', 'aborted'));
    });
    if (this.#handler !== handler) return; // aborted at once
    if (this.connected) this.#write(head);
    else this.socket.once(this.#ready, () => this.#write(head));
  }

  #write(head: string): void {
    const handler = this.#handler;
    if (!handler) return;
    this.#sentAt = performance.now();
    this.socket.write(head, 'latin1');
    handler.onRequestSent?.();
    if (this.#handler !== handler) return; // aborted from onRequestSent
    if (this.#headersTimeout > 0) {
      this.#timer = setTimeout(
        () => this.#failed(coded('MSUP_RESPONSE_TIMEOUT', 'no response headers in time')),
        this.#headersTimeout,
      );
    }
  }

  #read(chunk: Buffer): void {
    const handler = this.#handler;
    if (!handler) {
      // Bytes on an idle connection: nothing asked for them; it is not reused.
      this.#pool.discard(this);
      this.socket.destroy();
      return;
    }
    this.#answered = true;
    try {
      this.#parser.execute(chunk);
    } catch (error) {
      this.#failed(error as Error);
      return;
    }
    // The handler may have aborted while it took the response.
    if (this.#handler === handler && this.#parser.done) this.#complete();
  }

  #complete(): void {
    const handler = this.#handler as ExchangeHandler;
    this.#handler = undefined;
    clearTimeout(this.#timer);
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    // Not after a HEAD: an instance that wrongly sends a body with its answer to one would have those
    // bytes taken for the next request's answer (undici closes such a connection too).
    if (this.#parser.keepAlive && !this.#head) this.#pool.release(this, this.#parser.keepAliveHintMs);
    else {
      this.#pool.discard(this);
      this.socket.destroy();
    }
    handler.onComplete(null);
  }

  #ended(): void {
    this.#pool.discard(this);
    if (!this.#handler) return;
    if (this.#parser.untilClose) {
      this.#parser.finish();
      this.#complete();
      return;
    }
    this.#failed(
      this.#stale(undefined) ??
        (this.connected
          ? coded('MSUP_UPSTREAM_CLOSED', 'the instance closed the connection before its response')
          : coded('ECONNRESET', 'the connection closed while connecting')),
    );
  }

  #failed(error: Error): void {
    this.#pool.discard(this);
    this.socket.destroy();
    clearTimeout(this.#timer);
    const handler = this.#handler;
    this.#handler = undefined;
    handler?.onError(error);
  }
}

/** Keep-alive connections to one instance, for requests without a body. */
export class LeanPool {
  readonly #tls: ConnectionOptions | undefined;
  /** The last TLS session the instance gave, offered on the next connection (as undici does). */
  #session: Buffer | undefined;
  readonly #host: string;
  readonly #port: number;
  readonly #authority: string;
  readonly #idleMs: number;
  readonly #connectTimeoutMs: number;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  /** With `tls`, connections are TLS, opened with those options (a client certificate, the peer's check, ...). */
  constructor(host: string, port: number, idleMs: number, connectTimeoutMs: number, tls?: ConnectionOptions) {
    this.#tls = tls;
    this.#host = host;
    this.#port = port;
    this.#authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.#idleMs = idleMs;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  dispatch(request: UpstreamRequest, handler: ExchangeHandler): void {
    let head: string;
    try {
      head = requestHead(request, this.#authority);
    } catch (error) {
      handler.onConnect(() => {});
      handler.onError(error as Error);
      return;
    }
    if (this.#closed) {
      handler.onConnect(() => {});
      handler.onError(coded('ECONNREFUSED_POOL', 'the pool is closed'));
      return;
    }
    const now = Date.now();
    let connection = this.#idle.pop();
    while (connection && now >= connection.idleUntil) {
      this.discard(connection);
      connection.socket.destroy();
      connection = this.#idle.pop();
    }
    connection ??= this.#open();
    connection.send(head, handler, request.method === 'HEAD', request.headersTimeout);
  }

  #open(): Connection {
    const ready = this.#tls ? 'secureConnect' : 'connect';
    const socket = this.#tls
      ? this.#connectTls(this.#tls)
      : net.connect({ host: this.#host, port: this.#port });
    const connection = new Connection(this, socket, ready);
    this.#all.add(connection);
    // Over TLS the time allowed covers the handshake too (as undici's connectTimeout).
    socket.setTimeout(this.#connectTimeoutMs, () => {
      socket.destroy(coded('MSUP_CONNECT_TIMEOUT', 'connect timed out'));
    });
    socket.once(ready, () => {
      connection.connected = true;
      socket.setTimeout(0);
    });
    return connection;
  }

  #connectTls(options: ConnectionOptions): tls.TLSSocket {
    const socket = tls.connect({
      ...options,
      host: this.#host,
      port: this.#port,
      // SNI names a host, never an address (as undici and Node's https agent).
      servername: options.servername ?? (net.isIP(this.#host) ? undefined : this.#host),
      ALPNProtocols: ['http/1.1'],
      session: this.#session,
    });
    socket.on('session', (session: Buffer) => {
      this.#session = session;
    });
    return socket;
  }

  /**
   * The connection may carry the next request: for idleMs, or less when the instance's keep-alive hint
   * (`hintMs`) says it closes sooner (as undici: the hint less KEEP_ALIVE_HINT_MARGIN_MS; none left, no reuse).
   */
  release(connection: Connection, hintMs?: number): void {
    const keep =
      hintMs === undefined ? this.#idleMs : Math.min(hintMs - KEEP_ALIVE_HINT_MARGIN_MS, this.#idleMs);
    if (this.#closed || keep <= 0) {
      this.discard(connection);
      connection.socket.destroy();
      return;
    }
    connection.idleUntil = Date.now() + keep;
    this.#idle.push(connection);
    // One timer per pool closes connections idle past their time (dispatch never reuses one past it).
    this.#sweep ??= setInterval(() => this.#closeIdle(), Math.max(250, this.#idleMs / 4)).unref();
  }

  /**
   * A reused connection turned out closed: the idle ones, as old or older, likely are too (an instance
   * that restarted its listener, or closed its idle connections), so they are not tried one by one.
   */
  staleSeen(): void {
    for (const connection of this.#idle.splice(0)) {
      this.#all.delete(connection);
      connection.socket.destroy();
    }
  }

  discard(connection: Connection): void {
    this.#all.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const connection of [...this.#idle]) {
      if (now < connection.idleUntil) continue;
      this.discard(connection);
      connection.socket.destroy();
    }
    if (this.#idle.length === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  /** No new requests; idle connections close now, busy ones after their response. */
  close(): void {
    this.#closed = true;
    for (const connection of [...this.#idle]) {
      this.discard(connection);
      connection.socket.destroy();
    }
  }

  /** Every connection closed now; requests under way fail. */
  destroy(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const connection of [...this.#all]) connection.socket.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }
}
