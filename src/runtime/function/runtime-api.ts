// The Lambda Runtime API that msup serves to one execution environment (AWS_LAMBDA_RUNTIME_API): the
// environment's runtime long-polls /runtime/invocation/next, then posts /invocation/{id}/response or
// /error; /runtime/init/error reports a failed init. The first poll marks the environment initialised.
// Only the environment may speak to it: an invocation carries the request's headers (Authorization,
// cookies), and polls are served first come first served. So it answers only requests whose Host names
// it (a web page that rebinds a name of its own to 127.0.0.1 sends that name), and on Linux lets in only
// connections from sockets of msup's own user (any local user can connect to a loopback port).
import http from 'node:http';
import net from 'node:net';
import { peerIsOwn } from './socket-owner.js';

const PREFIX = '/2018-06-01/runtime/';
/** Lambda's limit on a synchronous response payload. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

export interface Invocation {
  id: string;
  /** The event, as JSON text. */
  event: string;
  deadlineEpochMs: number;
  arn: string;
}

export type ApiOutcome =
  | { kind: 'response'; body: Buffer }
  /** `exiting`: the environment posted it on its way out (msup's bootstrap after a crash): give it no more. */
  | { kind: 'error'; errorType: string; body: Buffer; exiting?: true };

/** The header msup's bootstrap sends with the error it posts on its way out (an uncaught exception). */
export const EXITING_HEADER = 'x-msup-exiting';

/** What an environment's runtime reported at init: why it could not load. */
export class InitError extends Error {
  readonly errorType: string;
  constructor(errorType: string, message: string) {
    super(message);
    this.name = 'InitError';
    this.errorType = errorType;
  }
}

const ACCEPTED = Buffer.from('{"status":"OK"}');

function errorTypeOf(req: http.IncomingMessage, body: Buffer): string {
  const header = req.headers['lambda-runtime-function-error-type'];
  if (typeof header === 'string' && header !== '') return header;
  try {
    const type = (JSON.parse(body.toString()) as { errorType?: unknown }).errorType;
    return typeof type === 'string' ? type : 'Unhandled';
  } catch {
    return 'Unhandled';
  }
}

/**
 * The message of a posted error: its `errorMessage` (the whole body, with its trace, was the message, and
 * was logged as is at every attempt and again at the end); the body as text when it is not Lambda's shape.
 */
function errorMessageOf(body: Buffer): string {
  const text = body.toString();
  try {
    const message = (JSON.parse(text) as { errorMessage?: unknown } | null)?.errorMessage;
    if (typeof message === 'string') return message;
  } catch {}
  return text || 'init error';
}

export class RuntimeApi {
  /** Accepts connections, paused until their owner is checked, then hands them to #server. */
  readonly #listener: net.Server;
  /** Serves the connections let in (it does not listen itself). */
  readonly #server: http.Server;
  /** Every connection: being checked, or let in (#server, not listening itself, does not track them). */
  readonly #sockets = new Set<net.Socket>();
  /** The Host values a request may carry: this listener's own address, as AWS_LAMBDA_RUNTIME_API gives it. */
  #hosts: string[] = [];
  /** Polls (GET next) waiting for an invocation. */
  readonly #polls: http.ServerResponse[] = [];
  /** Invocations waiting for a poll. */
  readonly #queue: Invocation[] = [];
  readonly #inFlight = new Map<string, (outcome: ApiOutcome) => void>();
  /** Invocations of #inFlight that a poll has answered with: the environment's own from then on. */
  readonly #delivered = new Set<string>();
  #initialised = false;
  #onInit: { resolve: () => void; reject: (error: InitError) => void } | undefined;
  /** Settles when the runtime first asks for an invocation (init done), or rejects with its init error. */
  readonly init: Promise<void>;

  private constructor() {
    this.init = new Promise((resolve, reject) => {
      this.#onInit = { resolve, reject };
    });
    this.init.catch(() => {});
    this.#server = http.createServer({ keepAliveTimeout: 0, requestTimeout: 0 }, (req, res) =>
      this.#route(req, res),
    );
    this.#server.headersTimeout = 0;
    this.#server.timeout = 0;
    this.#listener = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) =>
      this.#admit(socket),
    );
  }

  /** The port it listens on (the kernel's choice when `listen` was given 0). */
  get port(): number {
    const address = this.#listener.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  static listen(port: number): Promise<RuntimeApi> {
    const api = new RuntimeApi();
    return new Promise((resolve, reject) => {
      api.#listener.once('error', reject);
      api.#listener.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        api.#listener.off('error', reject);
        api.#hosts = [`127.0.0.1:${api.port}`, `localhost:${api.port}`];
        resolve(api);
      });
    });
  }

  /**
   * Lets a connection in once its peer's socket is found to be msup's user's (once per connection: an
   * environment keeps its connections). Until then it is paused: what it sends waits in the kernel. The
   * check reads /proc off the event loop; msup's bootstrap opens its first connection before it loads the
   * handler, so a cold start does not wait for it.
   */
  #admit(socket: net.Socket): void {
    const refuse = () => socket.destroy();
    socket.on('error', refuse);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const own = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
    void peerIsOwn(peer, own).then((allowed) => {
      if (socket.destroyed) return;
      if (!allowed) {
        refuse();
        return;
      }
      socket.off('error', refuse);
      this.#server.emit('connection', socket);
      socket.resume();
    });
  }

  /** Hands an invocation to the runtime (now, or at its next poll); settles with what it posts back. */
  invoke(invocation: Invocation): Promise<ApiOutcome> {
    return new Promise((resolve) => {
      this.#inFlight.set(invocation.id, resolve);
      let poll = this.#polls.shift();
      // A poll whose connection is gone (its process exiting) takes nothing: the invocation waits.
      while (poll?.destroyed) poll = this.#polls.shift();
      if (poll) this.#dispatch(poll, invocation);
      else this.#queue.push(invocation);
    });
  }

  /**
   * Whether the runtime was handed the invocation (a poll answered with it). One that was not can go to
   * another environment when this one ends: it never ran.
   */
  delivered(id: string): boolean {
    return this.#delivered.has(id);
  }

  /** Forgets an invocation (its environment is being ended): a late answer is refused. */
  forget(id: string): void {
    this.#inFlight.delete(id);
    this.#delivered.delete(id);
    const queued = this.#queue.findIndex((i) => i.id === id);
    if (queued >= 0) this.#queue.splice(queued, 1);
  }

  close(): Promise<void> {
    for (const poll of this.#polls.splice(0)) poll.destroy();
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#listener.close(() => resolve()));
  }

  #dispatch(res: http.ServerResponse, invocation: Invocation): void {
    this.#delivered.add(invocation.id);
    res.writeHead(200, [
      'content-type',
      'application/json',
      'lambda-runtime-aws-request-id',
      invocation.id,
      'lambda-runtime-deadline-ms',
      String(invocation.deadlineEpochMs),
      'lambda-runtime-invoked-function-arn',
      invocation.arn,
      'lambda-runtime-trace-id',
      `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${invocation.id.replace(/-/g, '').slice(0, 24)};Sampled=0`,
      'content-length',
      String(Buffer.byteLength(invocation.event)),
    ]);
    res.end(invocation.event);
  }

  #route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '';
    if (!this.#hosts.includes(req.headers.host?.toLowerCase() ?? '')) {
      res.setHeader('connection', 'close');
      this.#answer(res, 403, 'AccessDenied', 'the Runtime API answers only requests to its own address');
      return;
    }
    if (req.method === 'GET' && url === `${PREFIX}invocation/next`) {
      this.#next(res);
      return;
    }
    if (req.method !== 'POST' || !url.startsWith(PREFIX)) {
      this.#answer(res, 404, 'UnknownRequest', `no such Runtime API path: ${req.method} ${url}`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
    });
    req.on('end', () => this.#post(req, res, url.slice(PREFIX.length), Buffer.concat(chunks), size));
  }

  #next(res: http.ServerResponse): void {
    if (!this.#initialised) {
      this.#initialised = true;
      this.#onInit?.resolve();
    }
    const queued = this.#queue.shift();
    if (queued) {
      this.#dispatch(res, queued);
      return;
    }
    this.#polls.push(res);
    res.once('close', () => {
      const at = this.#polls.indexOf(res);
      if (at >= 0) this.#polls.splice(at, 1);
    });
  }

  #post(req: http.IncomingMessage, res: http.ServerResponse, path: string, body: Buffer, size: number): void {
    if (path === 'init/error') {
      this.#onInit?.reject(new InitError(errorTypeOf(req, body), errorMessageOf(body)));
      this.#answer(res, 202);
      return;
    }
    const match = /^invocation\/([^/]+)\/(response|error)$/.exec(path);
    const id = match ? decodeURIComponent(match[1] as string) : '';
    const settle = this.#inFlight.get(id);
    if (!match || !settle) {
      this.#answer(res, 400, 'InvalidRequestID', `no invocation in flight with id "${id}"`);
      return;
    }
    this.#inFlight.delete(id);
    this.#delivered.delete(id);
    if (size > MAX_RESPONSE_BYTES) {
      settle({
        kind: 'error',
        errorType: 'Function.ResponseSizeTooLarge',
        body: Buffer.from(
          JSON.stringify({
            errorType: 'Function.ResponseSizeTooLarge',
            errorMessage: `Response payload size (${size} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
          }),
        ),
      });
      this.#answer(res, 413, 'RequestEntityTooLarge', 'the response is over 6 MB');
      return;
    }
    settle(
      match[2] === 'response'
        ? { kind: 'response', body }
        : {
            kind: 'error',
            errorType: errorTypeOf(req, body),
            body,
            ...(req.headers[EXITING_HEADER] === '1' ? { exiting: true as const } : {}),
          },
    );
    this.#answer(res, 202);
  }

  #answer(res: http.ServerResponse, status: number, errorType?: string, message?: string): void {
    const body = errorType ? Buffer.from(JSON.stringify({ errorMessage: message, errorType })) : ACCEPTED;
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(body.length)]);
    res.end(body);
  }
}
