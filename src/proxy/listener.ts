// An HTTP listener that answers bad input itself (400, 431, 408), refuses connections past its limit,
// survives failed accepts, and binds with clear, coded errors; used by each service's front and by
// the shared front.
import http from 'node:http';
import type net from 'node:net';
import { MsupError } from '../errors.js';
import { atMostEvery } from './connection-limits.js';
import { headerProblem } from './headers.js';
import { hasBody } from './lazy-body.js';
import { DEFAULT_LINGER, discardBody, setLingerBounds } from './linger.js';
import { replySocket, replyText } from './reply.js';
import type { ListenReports } from './tcp-io.js';

/** How a front reports what it does on its own: refused connections, failed accepts. */
export type FrontLog = (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;

export interface ListenerOptions {
  /** Time a client has to send the complete request headers (answered with 408). */
  headersTimeoutMs: number;
  /**
   * How long the rest of a request body is read and dropped after its answer, in all and between two
   * reads (default LINGER_TIME_MS and LINGER_TIMEOUT_MS, see linger.ts); then the connection closes.
   */
  lingerTimeMs?: number;
  lingerTimeoutMs?: number;
  /** Which front, in log lines (e.g. `service "web"`). */
  what?: string;
  log?: FrontLog;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/**
 * The answer to a request Node's parser refused (or whose headers did not come in time), in words. A 400
 * names what llhttp found (its reason: fixed text, never the client's bytes) and its code.
 */
function answerFor(error: NodeJS.ErrnoException & { reason?: unknown }): { status: number; text: string } {
  if (error.code === 'HPE_HEADER_OVERFLOW') return { status: 431, text: 'the request headers are too large' };
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, text: 'the request headers did not arrive within proxy.headersTimeout' };
  }
  const reason =
    typeof error.reason === 'string' && /^[\x20-\x7e]{1,80}$/.test(error.reason) ? error.reason : '';
  const detail = reason ? `${reason.toLowerCase()}, ` : '';
  return { status: 400, text: `the request is not valid HTTP (${detail}${error.code ?? 'parse error'})` };
}

/** A burst of refused or failed connections is one log line per this long, per front. */
export const REPORT_EVERY_MS = 10_000;

/** A front's reports of refused connections and failed accepts, one log line per 10 s at most of each. */
export function connectionReports(what: string, log: FrontLog = () => {}): ListenReports {
  return {
    dropped: atMostEvery(REPORT_EVERY_MS, (maxConnections: number) =>
      log('warn', 'connection limit reached: new connections are refused', { front: what, maxConnections }),
    ),
    acceptFailed: atMostEvery(REPORT_EVERY_MS, (error: NodeJS.ErrnoException) =>
      log('error', 'a connection could not be accepted', {
        front: what,
        code: error.code,
        error: error.message,
      }),
    ),
  };
}

/**
 * Past `server.maxConnections` (set by Fronts), Node closes each new connection at once: reported.
 * An error once listening is a failed accept (EMFILE, ENFILE: msup is out of file descriptors):
 * reported too, and the front goes on (libuv accepts again once descriptors are free). libuv seldom
 * reports one: with its spare descriptor it accepts and closes such connections itself, unseen; the
 * shortage shows when msup cannot connect to an instance (ServiceProxy.outOfDescriptors).
 */
function watchConnections(server: net.Server, reports: ListenReports): void {
  server.on('drop', () => reports.dropped(server.maxConnections));
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (server.listening) reports.acceptFailed(error);
  });
}

/** WebSocket is the one upgrade passed on (as a byte pipe); http-proxy-3 takes nothing else. */
function isWebSocket(req: http.IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.upgrade?.trim().toLowerCase() === 'websocket';
}

/**
 * Requests read ahead on one connection past which msup stops reading it until answers go out: each
 * waiting request is held in memory (an endless pipeline to a slow instance grew msup's heap without
 * bound).
 */
const MAX_READ_AHEAD = 32;

/** Node's own fields for its read-ahead back-pressure (its http server pauses so when answers back up). */
type HttpSocket = net.Socket & { _paused?: boolean; parser?: { pause(): void; resume(): void } | null };

/** Stops reading the socket as Node's server does: its parser pauses once the present chunk is parsed. */
function pauseReading(socket: net.Socket): void {
  const s = socket as HttpSocket;
  if (s._paused) return;
  s._paused = true;
  pausedHere.add(socket);
  socket.pause();
  // Not from inside the parser's execute (this runs in its 'request' event): once it has returned.
  setImmediate(() => watchForClose(socket));
}

/** Reads a socket paused here again (Node resumes on 'drain' too: a request past the bound pauses it again). */
function resumeReading(socket: net.Socket): void {
  if (!pausedHere.delete(socket)) return;
  stopWatching(socket);
  const s = socket as HttpSocket;
  if (!s._paused) return;
  s._paused = false;
  s.parser?.resume();
  socket.resume();
}

const pausedHere = new WeakSet<net.Socket>();

/**
 * Bytes a paused socket reads on, unparsed, to see whether the client is still there. A socket paused
 * for good read nothing, so a client that closed went unseen: its request under way kept its instance (up
 * to responseTimeout, with no limit at 0), and the one behind it went to the instance too, until an answer
 * written to the closed connection failed. Its end is seen when it comes within these bytes.
 */
const WATCH_BYTES = 64 * 1024;

type ReadingSocket = HttpSocket & {
  _handle?: { reading?: boolean; readStart(): number } | null;
  _readableState: { ended: boolean; highWaterMark: number };
};

const watched = new WeakMap<net.Socket, () => void>();

/**
 * Lets a paused socket read on, without parsing, up to WATCH_BYTES kept in its own buffer; its end (the
 * client closed or shut its side down) closes the connection, and the requests on it are aborted, as
 * for an end Node's server reads itself. A 'readable' listener makes Node's server stop feeding its parser
 * from the handle (as for any reader of the socket); what is kept goes to the parser, through 'data', once
 * the socket is resumed. Nothing here calls read(): each chunk it returns is a 'data' event too, which
 * Node's server takes to its parser (and asserts it is not paused).
 */
function watchForClose(socket: net.Socket): void {
  const s = socket as ReadingSocket;
  if (!pausedHere.has(socket) || !s._paused || watched.has(socket) || socket.destroyed || !s.parser) return;
  const onReadable = () => {
    if (!s._readableState.ended) return;
    stopWatching(socket);
    // As Node's server answers an end it reads (it ends its side too): what is written goes out first.
    socket.destroySoon();
  };
  watched.set(socket, onReadable);
  s._readableState.highWaterMark = Math.max(s._readableState.highWaterMark, WATCH_BYTES);
  socket.on('readable', onReadable);
  // The stream believes a read under way (its first, before the parser took the handle): started here.
  if (s._handle && !s._handle.reading) {
    s._handle.reading = true;
    s._handle.readStart();
  }
}

/** Stops watching a socket (its parser reads on once it is resumed). */
function stopWatching(socket: net.Socket): void {
  const onReadable = watched.get(socket);
  if (!onReadable) return;
  watched.delete(socket);
  socket.off('readable', onReadable);
}

/**
 * A socket Node's parser lets go of (an upgrade, CONNECT) while msup had paused it: Node took its own
 * pause and resume listeners off with it, so a later resume() started no read, and the tunnel got nothing
 * the client sent after the 101 (a WebSocket behind 33 pipelined GETs in one write). The pause is undone
 * and the handle reads again; Node has set the socket not flowing, so what comes is kept until the tunnel
 * reads it.
 */
function releaseReading(socket: net.Socket): void {
  stopWatching(socket);
  if (!pausedHere.delete(socket)) return;
  const s = socket as HttpSocket & { _handle?: { reading?: boolean; readStart(): number } | null };
  s._paused = false;
  if (s._handle && !s._handle.reading) {
    s._handle.reading = true;
    s._handle.readStart();
  }
}

/** A response still being written on the socket: Node's own field, set while a response holds the socket. */
const pendingResponse = (socket: net.Socket): http.ServerResponse | null =>
  (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage ?? null;

/**
 * Runs `handle` once no earlier response holds the socket. Node's parser reads pipelined requests ahead and
 * emits an upgrade while the answers to the requests before it are still being written (it queues those
 * itself); the upgrade's answer must come after them, and answering at once threw ERR_HTTP_SOCKET_ASSIGNED
 * inside Node's data handler, which ended msup. The upgrade's own bytes wait, unread, in the socket.
 */
function whenSocketFree(socket: net.Socket, handle: () => void): void {
  const earlier = pendingResponse(socket);
  if (!earlier) {
    handle();
    return;
  }
  // Node has taken its error listener off an upgraded socket: a reset while waiting must not end msup.
  const ignore = () => {};
  socket.on('error', ignore);
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    earlier.off('finish', settle);
    earlier.off('close', settle);
    socket.off('error', ignore);
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    whenSocketFree(socket, handle);
  };
  // 'finish' comes after Node has let go of the socket (its own listener was first).
  earlier.once('finish', settle);
  earlier.once('close', settle);
}

/**
 * An upgrade to anything but WebSocket (h2c, ...) is not passed on: the request is answered over
 * HTTP/1.1, as if it had no Upgrade header (RFC 9110 §7.8 lets a server ignore it; nginx does), and the
 * connection closes after the response (Node's parser has let go of it). Its body could not be read:
 * such a request with a body gets 501.
 */
function answerWithoutUpgrade(
  req: http.IncomingMessage,
  socket: net.Socket,
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): void {
  if (hasBody(req)) {
    replySocket(
      socket,
      501,
      `msup forwards no upgrade to ${req.headers.upgrade} (and no request body with one)`,
    );
    return;
  }
  socket.on('error', () => {});
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  // Node has taken its drain forwarding off an upgraded socket: without this a response that fills the
  // socket's buffer waits for a 'drain' that never comes.
  socket.on('drain', () => res.emit('drain'));
  res.once('finish', () => socket.end(() => socket.destroy()));
  req.resume();
  onRequest(req, res);
}

export function createListener(
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  onUpgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void,
  options: ListenerOptions,
): http.Server {
  const headersTimeout = options.headersTimeoutMs;
  /** Requests read ahead on each connection, waiting for the answers before theirs. */
  const readAhead = new WeakMap<net.Socket, number>();
  /** Sockets with a 'resume' listener that keeps them paused past MAX_READ_AHEAD. */
  const holding = new WeakSet<net.Socket>();
  const linger = {
    timeMs: options.lingerTimeMs ?? DEFAULT_LINGER.timeMs,
    timeoutMs: options.lingerTimeoutMs ?? DEFAULT_LINGER.timeoutMs,
  };
  const serve = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      // RFC 9112 §3.2 (Node's own check, requireHostHeader, answers with an empty body).
      replyText(res, 400, 'no Host header (HTTP/1.1 requires one)', { connection: 'close' });
      return;
    }
    const problem = headerProblem(req.rawHeaders);
    if (problem) replyText(res, problem.status, problem.reason, { connection: 'close' });
    else onRequest(req, res);
  };
  const server = http.createServer(
    {
      headersTimeout,
      // Off: a large upload or a long stream is not cut; slow headers still are (headersTimeout).
      requestTimeout: 0,
      // Checked in serve, to say what is missing.
      requireHostHeader: false,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      setLingerBounds(req, linger);
      // Answered before its body was read (a 404 from the shared front, say): Node reads and drops the
      // rest with no limit of its own.
      res.once('finish', () => {
        if (!req.complete) discardBody(req);
      });
      // Node's parser reads pipelined requests ahead and emits each at once, its response queued behind
      // the one being written. Forwarded at once, each took an instance connection of its own (3000
      // pipelined GETs on one client connection: 3000 connections, past maxConnections and the fd limit).
      // Each is served once its response has the socket, one at a time, as nginx does.
      if (res.socket) {
        serve(req, res);
        return;
      }
      const socket = req.socket;
      readAhead.set(socket, (readAhead.get(socket) ?? 0) + 1);
      if ((readAhead.get(socket) ?? 0) > MAX_READ_AHEAD) {
        pauseReading(socket);
        if (!holding.has(socket)) {
          holding.add(socket);
          // Node resumes the socket whenever an answer is written (its own back-pressure counts the
          // answers' bytes, not the requests waiting): each answer let it parse a whole chunk more (about
          // 1800 small GETs), and a slow instance's pipeline grew without bound. Paused again here, after
          // Node's own 'resume' listener, in the same tick (nothing is read in between).
          socket.on('resume', () => {
            if ((readAhead.get(socket) ?? 0) > MAX_READ_AHEAD) pauseReading(socket);
          });
        }
      }
      res.once('socket', () => {
        const left = (readAhead.get(socket) ?? 1) - 1;
        readAhead.set(socket, left);
        if (left <= MAX_READ_AHEAD) resumeReading(socket);
        serve(req, res);
      });
    },
  );
  // No silent cut: headers are counted (headerProblem) and more than the bound get 431.
  server.maxHeadersCount = 0;
  watchConnections(server, connectionReports(options.what ?? 'a front', options.log));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    releaseReading(socket);
    readAhead.delete(socket);
    whenSocketFree(socket, () => {
      const problem = headerProblem(req.rawHeaders);
      if (problem) replySocket(socket, problem.status, problem.reason);
      else if (req.headers.host === undefined && req.httpVersion === '1.1') {
        // As for a request (RFC 9112 §3.2): forwarded, it reached the instance with Node's own Host.
        replySocket(socket, 400, 'no Host header (HTTP/1.1 requires one)');
      } else if (isWebSocket(req)) {
        // A WebSocket handshake has no body (RFC 6455 §4.1); forwarded, its bytes went into the tunnel as
        // if they were frames (its Transfer-Encoding stripped as hop-by-hop). As the sidecars answer.
        if (hasBody(req)) replySocket(socket, 501, 'msup forwards no request body with a WebSocket upgrade');
        else onUpgrade(req, socket, head);
      } else answerWithoutUpgrade(req, socket, onRequest);
    });
  });
  // CONNECT asks for a tunnel to host:port: msup is no forward proxy (its target cannot be forwarded).
  server.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
    releaseReading(socket);
    readAhead.delete(socket);
    whenSocketFree(socket, () =>
      replySocket(socket, 400, 'msup is not a forward proxy: CONNECT is not served'),
    );
  });
  const refusing = new WeakSet<net.Socket>();
  server.on('clientError', (error: NodeJS.ErrnoException, client) => {
    const socket = client as net.Socket;
    // Node's parser stays in error: bytes that come while the status waits raise the error again.
    if (refusing.has(socket)) return;
    const current = pendingResponse(socket);
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    refusing.add(socket);
    // Closed once the status is out, whether or not the client ever closes its side (a 408 included).
    const { status, text } = answerFor(error);
    const answer = () => replySocket(socket, status, text);
    // The bad request came behind requests read whole (pipelined): its status waits for their answers.
    // Written at once, it came before them, and the connection closed with requests the instances got
    // unanswered (a client may send them again).
    if (current?.req.complete) whenSocketFree(socket, answer);
    // A response under way to a request whose own body turned malformed (its head sent: the instance began
    // to answer before the body ended): a status line now would land inside that response's body.
    else if (current?.headersSent) socket.destroy();
    else answer();
  });
  return server;
}

/** Binds a listener; 0 picks a free port. Resolves with the bound port. */
export function bind(
  server: net.Server,
  port: number,
  host: string,
  what: string,
  service?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(listenError(error, port, what, service));
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** The coded error for a port that could not be bound: MSUP_PORT_IN_USE names the port and `what`. */
export function listenError(
  error: NodeJS.ErrnoException,
  port: number,
  what: string,
  service?: string,
): MsupError {
  const inUse = error.code === 'EADDRINUSE';
  const message = inUse
    ? `port ${port} for ${what} is already in use`
    : `cannot listen on port ${port} for ${what}: ${error.message}`;
  return new MsupError(inUse ? 'MSUP_PORT_IN_USE' : 'MSUP_START_FAILED', message, {
    cause: error,
    port,
    ...(service === undefined ? {} : { service }),
  });
}
