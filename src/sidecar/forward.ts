// One HTTP request from a sidecar to an upstream (its app, or a peer's sidecar): hop-by-hop headers
// stripped, and a failure told apart by when it happened (before the request reached the upstream, or
// after), which decides whether it may be retried.
import http from 'node:http';
import https from 'node:https';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
]);

/** The headers to pass on: without hop-by-hop ones (and those `Connection` names). */
export function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export type SendFailure =
  /** No connection (refused, TLS handshake refused, unreachable): the upstream saw nothing. */
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

export interface SendOptions {
  agent: http.Agent;
  tls: boolean;
  host: string;
  port: number;
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  /** A buffered body (replayable), a stream to pipe, or nothing. */
  body: Buffer | NodeJS.ReadableStream | null;
  /** No response headers within this: a 'timeout' failure (0: none). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Sends a request; resolves with the response once its headers arrive, rejects with a SendError. */
export function send(options: SendOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = (options.tls ? https.request : http.request)({
      agent: options.agent,
      host: options.host,
      port: options.port,
      method: options.method,
      path: options.path,
      headers: options.headers,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    request.on('socket', (socket) => {
      // A pooled socket is connected already; a new one is once connected (for TLS, once the handshake is done).
      if (!socket.connecting) connected = true;
      else
        socket.once(options.tls ? 'secureConnect' : 'connect', () => {
          connected = true;
        });
    });
    if (options.timeoutMs > 0) {
      timer = setTimeout(() => {
        request.destroy(new SendError('timeout', `no answer within ${options.timeoutMs}ms`));
      }, options.timeoutMs);
    }
    request.once('response', (response) => {
      clearTimeout(timer);
      resolve(response);
    });
    request.once('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      if (error instanceof SendError) reject(error);
      else reject(new SendError(connected ? 'reset' : 'connect', error.code ?? error.message));
    });
    const body = options.body;
    if (body === null) request.end();
    else if (Buffer.isBuffer(body)) request.end(body);
    else body.pipe(request);
  });
}
