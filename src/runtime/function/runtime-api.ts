// The Lambda Runtime API that msup serves to one execution environment (AWS_LAMBDA_RUNTIME_API): the
// environment's runtime long-polls /runtime/invocation/next, then posts /invocation/{id}/response or
// /error; /runtime/init/error reports a failed init. The first poll marks the environment initialised.
// Only the environment may speak to it: an invocation carries the request's headers (Authorization,
// cookies), and polls are served first come first served. So it answers only requests whose Host names
// it (a web page that rebinds a name of its own to 127.0.0.1 sends that name), and on Linux lets in only
// connections from sockets of msup's own user (any local user can connect to a loopback port).
// msup's own bootstrap proves that with a token instead (a secret in its environment, which only msup's
// user and root can read), so its first poll does not wait for /proc.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { TOKEN_HEADER } from './runtime-token.js';
import { peerIsOwn, type SocketAddress } from './socket-owner.js';

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

/** Whether a connection's peer may be let in (socket-owner.ts's `peerIsOwn`; tests give their own). */
export type OwnerCheck = (peer: SocketAddress, own: SocketAddress) => Promise<boolean>;

export interface RuntimeApiOptions {
  /**
   * The secret msup's own bootstrap sends in TOKEN_HEADER with each request. A connection whose request
   * carries it is let in without the check of its peer's owner; one without it is checked at its first
   * request. Without a token (a runtime of the user's own, aws-lambda-ric), each connection is checked as
   * soon as it is accepted, while the runtime loads its handler.
   */
  token?: string;
  owner?: OwnerCheck;
}

/** A connection's admission: undecided (its check under way, or not begun), or decided. */
interface Gate {
  allowed: boolean | null;
  check: Promise<boolean> | null;
}

/**
 * How long a connection to a Runtime API with a token may go without a request that carries it before its
 * owner is checked anyway: another user's connections that never send a whole request are closed then
 * (they would hold msup's descriptors for ever), and msup's own bootstrap, whose first request carries the
 * token, is seldom checked at all (its connection opened before the handler's import waits that long only
 * for an init that slow).
 */
const UNPROVEN_CHECK_MS = 1000;

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
  /** Accepts connections and hands them to #server once let in (#admit). */
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
  /** Ends the watch of a delivered invocation's connection for a failed write (#dispatch). */
  readonly #unwatch = new Map<string, () => void>();
  #initialised = false;
  #onInit: { resolve: () => void; reject: (error: InitError) => void } | undefined;
  /** Settles when the runtime first asks for an invocation (init done), or rejects with its init error. */
  readonly init: Promise<void>;
  readonly #token: Buffer | null;
  readonly #owner: OwnerCheck;
  readonly #gates = new WeakMap<net.Socket, Gate>();

  private constructor(options: RuntimeApiOptions) {
    this.#token = options.token ? Buffer.from(options.token, 'latin1') : null;
    this.#owner = options.owner ?? peerIsOwn;
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

  /** Its open connections: being checked, or let in. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** The port it listens on (the kernel's choice when `listen` was given 0). */
  get port(): number {
    const address = this.#listener.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  static listen(port: number, options: RuntimeApiOptions = {}): Promise<RuntimeApi> {
    const api = new RuntimeApi(options);
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
   * Takes a connection in. Without a token it stays paused until its peer's socket is found to be msup's
   * user's (what it sends waits in the kernel); the check reads /proc off the event loop, and a runtime
   * opens its first connection before it loads the handler, so a cold start seldom waits for it. With a
   * token, requests are read at once, and each waits in #route until the connection is let in: by the
   * token, or by the check, made for a request without it, or UNPROVEN_CHECK_MS after the accept for a
   * connection that has sent none with it (another user's is closed then).
   */
  #admit(socket: net.Socket): void {
    const refuse = () => socket.destroy();
    socket.on('error', refuse);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const gate: Gate = { allowed: null, check: null };
    this.#gates.set(socket, gate);
    const letIn = () => {
      socket.off('error', refuse);
      this.#server.emit('connection', socket);
      socket.resume();
    };
    if (this.#token) {
      letIn();
      const later = setTimeout(() => {
        if (gate.allowed === null && !socket.destroyed) void this.#check(socket, gate);
      }, UNPROVEN_CHECK_MS);
      later.unref();
      socket.once('close', () => clearTimeout(later));
      return;
    }
    void this.#check(socket, gate).then((allowed) => {
      if (allowed && !socket.destroyed) letIn();
    });
  }

  /** The check of a connection's peer (once per connection), closing it when the peer is another user's. */
  #check(socket: net.Socket, gate: Gate): Promise<boolean> {
    gate.check ??= this.#owner(
      { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
    ).then((allowed) => {
      gate.allowed ??= allowed;
      if (!gate.allowed) socket.destroy();
      return gate.allowed;
    });
    return gate.check;
  }

  /** Whether a request carries this Runtime API's token (compared in constant time). */
  #hasToken(req: http.IncomingMessage): boolean {
    const sent = req.headers[TOKEN_HEADER];
    if (!this.#token || typeof sent !== 'string') return false;
    const bytes = Buffer.from(sent, 'latin1');
    return bytes.length === this.#token.length && timingSafeEqual(bytes, this.#token);
  }

  /** Hands an invocation to the runtime (now, or at its next poll); settles with what it posts back. */
  invoke(invocation: Invocation): Promise<ApiOutcome> {
    return new Promise((resolve) => {
      this.#inFlight.set(invocation.id, resolve);
      this.#handOut(invocation);
    });
  }

  /** To the first poll waiting, or in line for the next one (first in line: one a dead poll gave back). */
  #handOut(invocation: Invocation, first = false): void {
    let poll = this.#polls.shift();
    // A poll whose connection is gone (its process exiting) takes nothing: the invocation waits.
    while (poll?.destroyed) poll = this.#polls.shift();
    if (poll) this.#dispatch(poll, invocation);
    else if (first) this.#queue.unshift(invocation);
    else this.#queue.push(invocation);
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
    this.#unwatch.get(id)?.();
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
    // Written to a connection its peer has reset (unseen until this write): the runtime never got it. It
    // goes back first in line rather than waiting lost until its timeout. (Node's response says 'finish'
    // even then: the socket's failed write is what tells.) Nothing else is written on the connection while
    // the invocation is under way: the runtime's next request on it is its answer.
    // The watch ends with the invocation (its answer posted, or forgotten) or the connection: a kept-alive
    // connection carries one invocation after another.
    const socket = res.socket;
    if (socket) {
      const unwatch = () => {
        socket.off('error', lost);
        socket.off('close', unwatch);
        this.#unwatch.delete(invocation.id);
      };
      const lost = (error: NodeJS.ErrnoException) => {
        unwatch();
        // (Watched only while the invocation is delivered and under way: its answer and forget() unwatch.)
        if (error.syscall !== 'write') return;
        this.#delivered.delete(invocation.id);
        this.#handOut(invocation, true);
      };
      socket.on('error', lost);
      socket.on('close', unwatch);
      this.#unwatch.set(invocation.id, unwatch);
    }
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
    const gate = this.#gates.get(req.socket);
    if (gate && gate.allowed !== true) {
      if (gate.allowed === null && this.#hasToken(req)) gate.allowed = true;
      else {
        // Not let in yet: served once its peer is found to be msup's user's; another user's is closed, and
        // so is a request whose connection closed meanwhile (no one is left to read its answer).
        void this.#check(req.socket, gate).then((allowed) => {
          if (allowed && !req.socket.destroyed) this.#route(req, res);
        });
        return;
      }
    }
    const url = req.url ?? '';
    if (!this.#hosts.includes(req.headers.host?.toLowerCase() ?? '')) {
      res.setHeader('connection', 'close');
      this.#answer(res, 403, 'AccessDenied', 'the Runtime API answers only requests to its own address');
      return;
    }
    if (req.method === 'GET' && url === `${PREFIX}invocation/next`) {
      // A poll whose connection is already gone takes nothing: an invocation handed to it would be lost
      // (and it is no sign of the runtime's init either). Looked at again once the present read is done: a
      // peer that wrote its poll and reset the connection (the check finds no line of it, and lets it in) is
      // read to the end of its bytes, then to its reset, in one go.
      setImmediate(() => {
        if (!req.socket.destroyed) this.#next(res);
      });
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
    this.#unwatch.get(id)?.();
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
