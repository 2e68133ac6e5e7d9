// The sidecar's inbound side: the ingress listener (plain HTTP, the instance's endpoint: msup's front
// and probes) and the mesh listener (mTLS from peers' sidecars) both forward to the app, continue the
// trace, and count each request. Opens once the app accepts connections.
import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { type StartupSchedule, startupDelay } from '../health/startup-delay.js';
import { NOT_FORWARDED_HEADER } from '../proxy/headers.js';
import { LazyBody, REPLAY_LIMIT } from '../proxy/lazy-body.js';
import { STALE_CONNECTION } from '../proxy/lean-pool.js';
import { DEFAULT_LINGER, type LingerBounds } from '../proxy/linger.js';
import { IDEMPOTENT } from '../proxy/retry.js';
import { createUpstreamPool, type UpstreamPool } from '../proxy/upstream-pool.js';
import {
  BODY_TIMEOUT_MS,
  bodyStopped,
  countHeaders,
  downstreamHeaders,
  hasBody,
  LISTENER_OPTIONS,
  lingerAfterAnswer,
  refusedHead,
  refusedUpgrade,
  SendError,
  send,
  upstreamHeaders,
  writeAnswerHead,
} from './forward.js';
import type { TlsMaterial } from './messages.js';
import { type GoldenMetrics, routeOf } from './metrics.js';
import { meshIdentity, serverOptions } from './tls.js';
import { continueTrace, TRACESTATE } from './traceparent.js';

/** The header that tells the app which mesh identity called it (Linkerd's l5d-client-id). */
export const CLIENT_ID_HEADER = 'x-msup-client-id';
const DROP_CLIENT_ID: ReadonlySet<string> = new Set([CLIENT_ID_HEADER]);
/** The same, for a request whose trace starts here: its tracestate is of no trace sent on. */
const DROP_CLIENT_ID_AND_STATE: ReadonlySet<string> = new Set([CLIENT_ID_HEADER, TRACESTATE]);
const NOT_OF_THE_MESH = 'msup sidecar: a client certificate of this mesh is required\n';
/** How long a connection to the permissive mesh port may stay silent before its first byte (node:http's headersTimeout). */
const FIRST_BYTE_MS = 60_000;

/** An answer's status line and `headers` (a flat list), as bytes for a raw socket (latin1). */
function headOf(answer: http.IncomingMessage, headers: readonly string[]): string {
  const lines = [`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage ?? ''}`];
  for (let i = 0; i + 1 < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Random bytes for span ids, taken from a pool refilled 4 KiB at a time (one call per request is slow). */
const pool = new Uint8Array(4096);
let used = pool.length;
export function random(size: number): Uint8Array {
  if (used + size > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += size;
  return pool.slice(used - size, used);
}

export interface InboundOptions {
  host: string;
  ingressPort: number;
  meshPort: number;
  mode: 'http' | 'tcp';
  mtls: 'strict' | 'permissive';
  trustPrefix: string;
  tls: TlsMaterial;
  metrics: GoldenMetrics;
  log(line: string): void;
  /** How long a request body may pause before a 408 (BODY_TIMEOUT_MS by default; 0: no limit). */
  bodyTimeoutMs?: number;
  /**
   * How long the rest of a body answered early is read and dropped, in all and between two reads
   * (LINGER_TIME_MS and LINGER_TIMEOUT_MS by default, as msup's front; proxy/linger.ts).
   */
  lingerTimeMs?: number;
  lingerTimeoutMs?: number;
}

/** How often the app's port is tried while it starts: as msup's startup probes, often at first, then less. */
const ACCEPT_POLL: StartupSchedule = { fastMs: 20, fastForMs: 2000, maxMs: 200 };

/**
 * Resolves once `port` on `host` accepts a TCP connection (polled every 20 ms for 2 s, then at intervals
 * that double up to 200 ms). The ingress opens then: with intervals that doubled from the start (20, 40,
 * 80, 160, then 200 ms), an app that listened just after a try waited up to 200 ms more for its sidecar
 * (the cold start of a sidecar instance moved between about 350 and 550 ms with the demo's app).
 */
export async function whenAccepting(host: string, port: number, closed: () => boolean): Promise<boolean> {
  const began = Date.now();
  let delay = ACCEPT_POLL.fastMs;
  while (!closed()) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, delay));
    delay = acceptPollDelay(Date.now() - began, delay);
  }
  return false;
}

/** The delay before the next try of the app's port, `sinceStartMs` after the first. Pure. */
export function acceptPollDelay(sinceStartMs: number, previousMs: number): number {
  return startupDelay(ACCEPT_POLL, sinceStartMs, previousMs);
}

export class Inbound {
  readonly #options: InboundOptions;
  readonly #linger: LingerBounds;
  #pool: UpstreamPool | undefined;
  #app: { host: string; port: number } | null = null;
  #ingress: net.Server | undefined;
  #mesh: https.Server | undefined;
  #closed = false;
  readonly #closers: (() => void)[] = [];

  constructor(options: InboundOptions) {
    this.#options = options;
    this.#linger = {
      timeMs: options.lingerTimeMs ?? DEFAULT_LINGER.timeMs,
      timeoutMs: options.lingerTimeoutMs ?? DEFAULT_LINGER.timeoutMs,
    };
  }

  /** The app listens at `endpoint`: once it accepts connections, the listeners open. */
  async open(endpoint: { host: string; port: number }): Promise<void> {
    this.#app = endpoint;
    this.#pool = createUpstreamPool(endpoint.host, endpoint.port);
    if (!(await whenAccepting(endpoint.host, endpoint.port, () => this.#closed))) return;
    const { host, ingressPort, meshPort, mode } = this.#options;
    if (mode === 'tcp') {
      this.#ingress = net.createServer((socket) => this.#pipe(socket));
      await listen(this.#ingress, host, ingressPort);
      this.#options.log(`ingress ${host}:${ingressPort} → app ${endpoint.host}:${endpoint.port} (tcp)`);
      return;
    }
    const ingress = countHeaders(
      http.createServer(LISTENER_OPTIONS, (req, res) => this.#forward(req, res, null)),
    );
    ingress.on('upgrade', (req, socket, head) => this.#upgrade(req, socket as net.Socket, head, null));
    this.#ingress = ingress;
    const mesh = countHeaders(
      https.createServer({ ...serverOptions(this.#options.tls), ...LISTENER_OPTIONS }, (req, res) =>
        this.#fromMesh(req, res),
      ),
    );
    mesh.on('upgrade', (req, socket, head) => {
      const identity = this.#identityOf(req.socket as TLSSocket);
      if (identity) this.#upgrade(req, socket as net.Socket, head, identity);
      else
        socket.end(
          `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${NOT_OF_THE_MESH}`,
        );
    });
    this.#mesh = mesh;
    await listen(ingress, host, ingressPort);
    if (this.#options.mtls === 'strict') {
      // The TLS server listens itself: its connections stay on libuv's handles (a JS stream that replays
      // a first byte costs per byte), and Node checks its headers timeout only on a server that listens.
      // Plain text is closed by the handshake, with no word why (the price of both).
      await listen(mesh, host, meshPort);
      this.#options.log(
        `ingress ${host}:${ingressPort} and mesh ${host}:${meshPort} (mTLS strict) → app ${endpoint.host}:${endpoint.port}`,
      );
      return;
    }
    // Permissive: the mesh port reads each connection's first byte: a TLS connection's is a handshake
    // record (22); anything else is plain text, served as from the ingress.
    const plain = countHeaders(
      http.createServer(LISTENER_OPTIONS, (req, res) => this.#forward(req, res, null)),
    );
    // An upgrade in plain text carries no identity: as one on the mesh port's TLS without a certificate
    // could not be, it goes on as from the ingress (no client id).
    plain.on('upgrade', (req, socket, head) => this.#upgrade(req, socket as net.Socket, head, null));
    const sniff = net.createServer((socket) => {
      // Until http or tls has it: a reset before the first byte (a port scan, SO_LINGER 0) ends only
      // this connection (an 'error' with no listener would end the sidecar), and one that sends nothing
      // is closed after the time a client has for its request's headers.
      socket.on('error', () => socket.destroy());
      socket.setTimeout(FIRST_BYTE_MS, () => socket.destroy());
      socket.once('data', (first: Buffer) => {
        socket.setTimeout(0);
        socket.pause();
        if (first[0] === 22) {
          // TLS reads the socket's handle, not its stream: it gets a stream that replays the first bytes.
          mesh.emit('connection', replaying(socket, first));
          return;
        }
        socket.unshift(first);
        plain.emit('connection', socket);
        socket.resume();
      });
    });
    await listen(sniff, host, meshPort);
    this.#closers.push(
      () => sniff.close(),
      () => plain.closeAllConnections(),
    );
    this.#options.log(
      `ingress ${host}:${ingressPort} and mesh ${host}:${meshPort} (mTLS ${this.#options.mtls}) → app ${endpoint.host}:${endpoint.port}`,
    );
  }

  /** A renewed certificate: new handshakes use it; open connections carry on. */
  rotate(tls: TlsMaterial): void {
    this.#options.tls = tls;
    this.#mesh?.setSecureContext(serverOptions(tls));
  }

  /** A connection's mesh identity, read from its certificate once. */
  readonly #identities = new WeakMap<object, string | null>();

  #identityOf(socket: TLSSocket): string | null {
    let identity = this.#identities.get(socket);
    if (identity === undefined) {
      identity = meshIdentity(socket.getPeerCertificate?.(), this.#options.trustPrefix);
      this.#identities.set(socket, identity);
    }
    return identity;
  }

  #fromMesh(req: http.IncomingMessage, res: http.ServerResponse): void {
    const identity = this.#identityOf(req.socket as TLSSocket);
    if (!identity) {
      lingerAfterAnswer(req, res, this.#linger);
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(NOT_OF_THE_MESH);
      return;
    }
    this.#forward(req, res, identity);
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse, identity: string | null): void {
    if (refusedHead(req, res)) return;
    const started = performance.now();
    const route = routeOf(req.url);
    const pool = this.#pool;
    const trace = continueTrace(req.headers.traceparent, random);
    const set: Record<string, string> = { traceparent: trace.traceparent };
    // Only the mesh port may say who called: a client of the plain port cannot pass itself off.
    if (identity) set[CLIENT_ID_HEADER] = identity;
    const headers = upstreamHeaders(req, set, trace.started ? DROP_CLIENT_ID_AND_STATE : DROP_CLIENT_ID);
    const abort = new AbortController();
    // Counted once the response is done (or cut): status 0 when the client never got one.
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
      const status = res.headersSent && res.writableFinished ? res.statusCode : 0;
      this.#options.metrics.record('inbound', '', route, status, performance.now() - started);
    });
    // Read as the app takes it; a client that stops sending it gets 408 after the idle time, as from the front.
    const idleMs = this.#options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
    const body = hasBody(req)
      ? new LazyBody(req, idleMs, () => {
          abort.abort();
          bodyStopped(req, res);
        })
      : null;
    lingerAfterAnswer(req, res, this.#linger, body);
    if (!pool) {
      notForwarded(req, res, idleMs, 'the app is not up yet');
      return;
    }
    const attempt = (again: boolean): void => {
      send(pool, {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        body,
        timeoutMs: 0,
        signal: abort.signal,
      }).then(
        (answer) => {
          if (writeAnswerHead(res, answer)) answer.pipeTo(res);
          else if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end('msup sidecar: the app answered a head that cannot be sent on\n');
          } else res.destroy();
        },
        (error) => {
          if (abort.signal.aborted) return;
          if (
            !again &&
            body === null &&
            error instanceof SendError &&
            error.message === STALE_CONNECTION &&
            IDEMPOTENT.has(req.method ?? 'GET')
          ) {
            // A kept-alive connection the app closed as msup reused it (lean-pool.ts): once more, on a new one.
            attempt(true);
            return;
          }
          if (error instanceof SendError && error.failure === 'connect') {
            // Nothing reached the app (refused, unreachable: it died, or is not up): a 503 that says so,
            // and msup's front (or a peer's sidecar) sends the request to another instance, whatever its
            // method, as after a failed connect of its own. The body's reader lets go of the client's stream
            // (and its idle timer stops): notForwarded reads the rest.
            body?.destroy();
            notForwarded(req, res, idleMs, `the app did not take the connection (${error.message})`);
            return;
          }
          // The app cut the connection after it got the request, or did not answer in time: the client's
          // connection is cut too, as the app's own would be, not answered 502. msup's front then sends an
          // idempotent request to another instance, as when a process dies; a 502 would be an answer,
          // passed on as it is. (A peer's sidecar retries a cut as it retried a 502.)
          req.socket.destroy();
        },
      );
    };
    attempt(false);
  }

  /**
   * An upgrade (WebSocket) to the app, then bytes both ways. Its head gets what a request's does: the
   * client id only from the mesh port's certificate (never from the client), the trace continued.
   */
  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, identity: string | null): void {
    const app = this.#app;
    if (!app) return void socket.destroy();
    if (refusedUpgrade(req, socket)) return;
    // Its body would have to reach the app before the app answers, and the client's bytes pass on only
    // after a 101: such an upgrade (h2c on a POST) is not passed on, as msup's front does not.
    if (hasBody(req)) {
      socket.on('error', () => {});
      socket.resume();
      socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () =>
        socket.destroy(),
      );
      return;
    }
    // A request's headers (upstreamHeaders), with the two hop-by-hop ones an upgrade needs put back.
    const trace = continueTrace(req.headers.traceparent, random);
    const set: Record<string, string> = {
      traceparent: trace.traceparent,
      connection: 'Upgrade',
      upgrade: req.headers.upgrade ?? '',
    };
    if (identity) set[CLIENT_ID_HEADER] = identity;
    const out = http.request({
      host: app.host,
      port: app.port,
      method: req.method,
      path: req.url,
      headers: upstreamHeaders(req, set, trace.started ? DROP_CLIENT_ID_AND_STATE : DROP_CLIENT_ID),
      setHost: false,
      agent: false,
    });
    const end = () => {
      out.destroy();
      socket.destroy();
    };
    out.once('error', end);
    socket.once('error', end);
    socket.once('close', end);
    // A client that closes its side before the app answers is gone (the ingress keeps half-open sockets).
    socket.once('end', end);
    // The app switches protocols: its 101, then bytes both ways.
    out.once('upgrade', (answer: http.IncomingMessage, upstream: net.Socket, upstreamHead: Buffer) => {
      socket.off('end', end);
      upstream.once('error', end);
      upstream.once('close', end);
      socket.write(headOf(answer, answer.rawHeaders), 'latin1');
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    // It declines: its answer, and the connection ends with it. Piped on, the connection would have been a
    // tunnel to the app whose later requests skip what a request's head gets here (a client id forged).
    out.once('response', (answer: http.IncomingMessage) => {
      socket.off('end', end);
      // What the client sends meanwhile is read and dropped, so that its end (and the socket's) can come.
      socket.resume();
      socket.write(
        headOf(answer, [...downstreamHeaders(answer.rawHeaders), 'connection', 'close']),
        'latin1',
      );
      answer.pipe(socket);
      answer.once('error', end);
      socket.once('finish', () => socket.destroy());
    });
    out.end();
  }

  #pipe(socket: net.Socket): void {
    const app = this.#app;
    if (!app) return void socket.destroy();
    const upstream = net.connect({ host: app.host, port: app.port });
    upstream.pipe(socket).pipe(upstream);
    const end = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.once('error', end);
    socket.once('error', end);
  }

  close(): void {
    this.#closed = true;
    for (const server of [this.#ingress, this.#mesh]) {
      server?.close();
      if (server instanceof http.Server) server.closeAllConnections();
    }
    for (const close of this.#closers) close();
    void this.#pool?.destroy();
  }
}

/** A stream of `socket` that gives `first` again before the rest. */
function replaying(socket: net.Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk, encoding, callback) => void socket.write(chunk, encoding, callback),
    final: (callback) => {
      socket.end();
      callback();
    },
    destroy: (error, callback) => {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  duplex.push(first);
  socket.on('data', (chunk) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.once('end', () => duplex.push(null));
  socket.once('error', (error) => duplex.destroy(error));
  socket.once('close', () => duplex.destroy());
  return duplex;
}

/**
 * 503 with NOT_FORWARDED_HEADER and `connection: close`: the request never reached the app. Sent once the
 * client's body is read (up to REPLAY_LIMIT; a larger one cannot be sent again anyway), so that closing
 * the connection does not reset it under bytes not read yet, which could lose the answer. A client that
 * sends nothing for `idleMs` (0: no limit) meanwhile gets 408, as while the app took its body: the body's
 * reader, and its idle timer, have let go of it, and a client gone quiet held the connection for ever.
 * (The bytes read are bounded by REPLAY_LIMIT, so no linger bound is needed before the answer; the idle
 * time is the front's bodyTimeout, so a front's client that pauses is the front's to answer, not cut here.)
 */
function notForwarded(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  idleMs: number,
  text: string,
): void {
  let idle: NodeJS.Timeout | undefined;
  const answer = () => {
    clearTimeout(idle);
    if (res.headersSent || res.destroyed) return;
    res.writeHead(503, {
      'content-type': 'text/plain',
      [NOT_FORWARDED_HEADER]: '1',
      connection: 'close',
    });
    res.end(`msup sidecar: ${text}\n`);
  };
  if (req.complete) {
    answer();
    return;
  }
  if (idleMs > 0) {
    idle = setTimeout(() => bodyStopped(req, res), idleMs);
    res.once('close', () => clearTimeout(idle));
  }
  let read = 0;
  req.on('data', (chunk: Buffer) => {
    idle?.refresh();
    read += chunk.length;
    if (read > REPLAY_LIMIT) answer();
  });
  req.once('end', answer);
  req.resume();
}

function listen(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
