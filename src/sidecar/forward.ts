// One HTTP request from a sidecar to an upstream (its app, or a peer's sidecar) over a keep-alive pool
// (msup's proxy's, src/proxy/upstream-pool.ts: the lean client, undici for a body): hop-by-hop headers
// stripped both ways, the response handed over at its headers (to stream on or to discard for a retry),
// and a failure told apart by when it happened, which decides whether it may be retried.
import http from 'node:http';
import type net from 'node:net';
import { headerProblem, isNotForwarded, NOT_FORWARDED_HEADER, sendableReason } from '../proxy/headers.js';
import { discardBody, type LingerBounds, setLingerBounds } from '../proxy/linger.js';
import type { ExchangeHandler, UpstreamPool } from '../proxy/upstream-pool.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  // undici sends no Expect; Node's server has answered 100-continue already.
  'expect',
]);

/**
 * Node's settings for every HTTP listener of a sidecar (ingress, mesh, the permissive mesh port's plain
 * side, outbound), as msup's front's (proxy/listener.ts): no `requestTimeout`, whose 300 s default cut an
 * upload longer than that with 408; a body that stops arriving is cut by an idle timer instead (LazyBody
 * from proxy/lazy-body.ts, as the front's `bodyTimeout`: it runs only while the client is awaited).
 */
export const LISTENER_OPTIONS = { keepAliveTimeout: 65_000, requestTimeout: 0 } as const;

/**
 * How long a client's body may pause before a 408: the front's default `bodyTimeout` (proxy/listener.ts's
 * DEFAULT_BODY_TIMEOUT_MS, not imported: the sidecar loads none of the front's modules).
 */
export const BODY_TIMEOUT_MS = 10_000;

/** A listener counts every header itself (headerProblem): Node's default would drop past 2000 silently. */
export function countHeaders<T extends http.Server>(server: T): T {
  server.maxHeadersCount = 0;
  return server;
}

/**
 * Answers a request whose head the front would refuse (two Host headers: 400; too many headers: 431), as
 * the front does; true when it did. The app would otherwise see a Host the front never allowed.
 */
export function refusedHead(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const problem = headerProblem(req.rawHeaders);
  if (!problem) return false;
  res.writeHead(problem.status, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`msup sidecar: ${problem.reason}\n`);
  return true;
}

/** The same for an upgrade's head, on its raw socket. */
export function refusedUpgrade(req: http.IncomingMessage, socket: net.Socket): boolean {
  const problem = headerProblem(req.rawHeaders);
  if (!problem) return false;
  const body = `msup sidecar: ${problem.reason}\n`;
  socket.on('error', () => {});
  socket.end(
    `HTTP/1.1 ${problem.status} ${http.STATUS_CODES[problem.status]}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  return true;
}

/** 408 for a client whose body stopped arriving (a cut if the answer has begun), and the connection closes. */
export function bodyStopped(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (res.headersSent) res.destroy();
  else {
    res.writeHead(408, { 'content-type': 'text/plain', connection: 'close' });
    res.end('msup sidecar: the request body stopped arriving\n');
  }
  req.socket.destroySoon();
}

/**
 * Once `req` is answered, what is left of its body (an early answer: the app's or a peer's 413, the
 * sidecar's own 503 or 403) is read and dropped within `bounds`, then the connection closes, as msup's
 * front does (proxy/linger.ts, nginx's lingering close); `body`, the reader that sent it on, lets go of
 * it first. It was read on with no limit (Node's own discard, or the app's through the sidecar), or left
 * unread until the keep-alive timer (65 s): a client sending slowly or endlessly held the connection, and
 * the sidecar's CPU, for ever.
 */
export function lingerAfterAnswer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bounds: LingerBounds,
  body: { destroy(): void } | null = null,
): void {
  setLingerBounds(req, bounds);
  res.once('finish', () => {
    if (req.complete) return;
    body?.destroy();
    discardBody(req);
  });
}

/** Never removed because `Connection` names them: the upstream needs them to read the message (as the front's END_TO_END). */
const END_TO_END = new Set(['host', 'content-length']);

/** Names listed in a Connection header (hop-by-hop too), but END_TO_END. */
function connectionNames(value: string | undefined): Set<string> | null {
  if (!value) return null;
  return new Set(
    value
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h && !END_TO_END.has(h)),
  );
}

/**
 * The request's headers to send on, as a flat list: without hop-by-hop ones and those in `drop`, then
 * `set` (which replaces any of the same name).
 */
export function upstreamHeaders(
  req: http.IncomingMessage,
  set: Readonly<Record<string, string>>,
  drop: ReadonlySet<string> = new Set(),
): string[] {
  const raw = req.rawHeaders;
  const named = connectionNames(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    // `x_msup_client_id` is the same header to a server that maps names to CGI's HTTP_X_MSUP_CLIENT_ID.
    const dropped = drop.has(name) || (name.includes('_') && drop.has(name.replaceAll('_', '-')));
    // hasOwn: `in` would find `constructor` or `__proto__` on Object's prototype and drop such a header.
    if (HOP_BY_HOP.has(name) || named?.has(name) || dropped || Object.hasOwn(set, name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  for (const [name, value] of Object.entries(set)) out.push(name, value);
  return out;
}

/** A header from undici (a Buffer) or from the lean client (a latin1 string), as a string. */
function latin1(raw: Buffer | string): string {
  return typeof raw === 'string' ? raw : raw.toString('latin1');
}

/**
 * A response's headers to pass back, as a flat list, without hop-by-hop ones, nor NOT_FORWARDED_HEADER:
 * only a sidecar may say that, and what it says is `Answer.notForwarded`, not a header to pass on.
 */
export function downstreamHeaders(raw: readonly (Buffer | string)[]): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2)
    if (latin1(raw[i] as Buffer | string).toLowerCase() === 'connection')
      named = connectionNames(latin1(raw[i + 1] as Buffer | string));
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i] as Buffer | string);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || lower === NOT_FORWARDED_HEADER) continue;
    out.push(name, latin1(raw[i + 1] as Buffer | string));
  }
  return out;
}

export type SendFailure =
  /** Nothing of the request was sent (refused, unreachable, TLS handshake failed): the upstream saw nothing. */
  | 'connect'
  /** The connection broke after the request went out: the upstream may have acted on it. */
  | 'reset'
  /** No response headers in time. */
  | 'timeout';

export class SendError extends Error {
  readonly failure: SendFailure;
  constructor(failure: SendFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

const CONNECT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'MSUP_CONNECT_TIMEOUT',
]);

/**
 * The codes of Node's check of the peer's certificate chain (OpenSSL's X509_V_ERR_* names, Node's tls
 * docs, "X509 certificate error codes"; UNSPECIFIED for any other): it fails the TLS handshake, before
 * the client writes anything.
 */
const CERTIFICATE = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'OUT_OF_MEM',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'UNSPECIFIED',
]);

/**
 * What a failure means for a retry. `sent`: some of the request went to the socket (the pools say so,
 * ExchangeHandler's onRequestSent and onBodySent); then it is never 'connect', whatever the code (a TLS
 * error, ERR_SSL_*, can come after the handshake, and the upstream may have acted on the request by then).
 */
export function classify(error: Error & { code?: string }, sent: boolean): SendFailure {
  const code = error.code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'MSUP_RESPONSE_TIMEOUT') return 'timeout';
  if (sent) return 'reset';
  if (
    CONNECT.has(code) ||
    CERTIFICATE.has(code) ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    error.name === 'MeshIdentityError'
  )
    return 'connect';
  return 'reset';
}

/**
 * Writes an answer's head on `res`, without its reason phrase where Node would refuse it (the status
 * code's own then). False when its headers cannot be sent: the answer is then discarded, for the caller to
 * answer 502. (A throw there ended the sidecar.)
 */
export function writeAnswerHead(res: http.ServerResponse, answer: Answer): boolean {
  try {
    if (sendableReason(answer.statusText)) res.writeHead(answer.status, answer.statusText, answer.headers);
    else res.writeHead(answer.status, answer.headers);
    return true;
  } catch {
    // writeHead keeps the reason it took before it refused a header: the caller's 502 gets its own.
    res.statusMessage = '';
    answer.discard();
    return false;
  }
}

/** A response whose headers came: its body is streamed to a client, or discarded (before a retry). */
export interface Answer {
  status: number;
  statusText: string;
  /** Flat list, hop-by-hop headers (and NOT_FORWARDED_HEADER) removed. */
  headers: string[];
  /** A 503 from a peer's sidecar with NOT_FORWARDED_HEADER: its app never got the request. */
  notForwarded: boolean;
  pipeTo(res: http.ServerResponse): void;
  discard(): void;
}

class Exchange implements ExchangeHandler {
  readonly #signal: AbortSignal | undefined;
  #abort: ((reason?: Error) => void) | undefined;
  #resolve: (answer: Answer) => void;
  #reject: (error: SendError) => void;
  #answered = false;
  /** Some of the request went to the socket. */
  #sent = false;
  #res: http.ServerResponse | null = null;
  #discarding = false;
  #pending: Buffer[] = [];
  #complete = false;
  /** The body failed after the head was in, maybe before pipeTo. */
  #failed = false;
  #resume: () => void = () => {};

  constructor(
    signal: AbortSignal | undefined,
    resolve: (answer: Answer) => void,
    reject: (error: SendError) => void,
  ) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal?.addEventListener('abort', () => this.#abort?.(new Error('the client went away')), { once: true });
  }

  onBodySent(): void {
    this.#sent = true;
  }

  onRequestSent(): void {
    this.#sent = true;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#signal?.aborted) abort(new Error('the client went away'));
  }

  onHeaders(
    status: number,
    rawHeaders: readonly (Buffer | string)[],
    resume: () => void,
    statusText: string,
  ): boolean {
    if (status < 200) return true;
    this.#resume = resume;
    this.#answered = true;
    this.#resolve({
      status,
      statusText,
      headers: downstreamHeaders(rawHeaders),
      notForwarded: status === 503 && isNotForwarded(rawHeaders),
      pipeTo: (res) => this.#pipeTo(res),
      discard: () => {
        this.#discarding = true;
        this.#pending = [];
        resume();
      },
    });
    return true;
  }

  #pipeTo(res: http.ServerResponse): void {
    this.#res = res;
    res.on('drain', () => this.#resume());
    for (const chunk of this.#pending.splice(0)) res.write(chunk);
    if (this.#complete) res.end();
    // The body failed before it was passed on (a bad chunk in the same read as the head): cut the answer.
    else if (this.#failed) res.destroy();
  }

  onData(chunk: Buffer): boolean {
    if (this.#discarding) return true;
    if (!this.#res) {
      this.#pending.push(chunk);
      return true;
    }
    return this.#res.write(chunk);
  }

  onComplete(): void {
    this.#complete = true;
    this.#res?.end();
  }

  onError(error: Error & { code?: string }): void {
    if (!this.#answered) {
      this.#reject(new SendError(classify(error, this.#sent), error.code ?? error.message));
      return;
    }
    this.#failed = true;
    if (this.#res && !this.#res.destroyed) this.#res.destroy();
  }
}

export interface SendOptions {
  method: string;
  path: string;
  headers: string[];
  /** A buffered body (replayable), a stream to send once, or nothing. */
  body: Buffer | NodeJS.ReadableStream | null;
  /** No response headers within this: a 'timeout' failure (0: none). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Sends a request; resolves with the answer once its headers arrive, rejects with a SendError. */
export function send(pool: UpstreamPool, options: SendOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    pool.dispatch(
      {
        method: options.method,
        path: options.path,
        headers: options.headers,
        body: options.body,
        headersTimeout: options.timeoutMs,
      },
      new Exchange(options.signal, resolve, reject),
    );
  });
}

/** Whether a request carries a body (a length above zero, or chunks). */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
