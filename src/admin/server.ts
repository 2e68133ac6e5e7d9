// The admin listener: the dashboard page and its live feed, /metrics for Prometheus, and the dashboard's
// actions. It knows the supervisor only through AdminTarget (its public methods). Reading needs a Host
// that names this listener; acting also needs the run's token and the dashboard's own origin (guard.ts).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { type ErrorCode, isMsupError, MsupError } from '../errors.js';
import type { InstanceInfo, LogLevel, LogRecord, MetricFamily, OutputLine, ServiceInfo } from '../types.js';
import { type ActionTarget, parseAction, runAction } from './actions.js';
import { asset } from './assets.js';
import { ConnectionRoom } from './connections.js';
import { DashboardSampler } from './dashboard-state.js';
import {
  EventFeed,
  eventLine,
  MAX_VIEWERS_WITH_TOKEN,
  MAX_VIEWERS_WITHOUT_TOKEN,
  outputLine,
  STREAM_HEADERS,
} from './events.js';
import { type GuardSettings, refuseAction, refuseRequest, TOKEN_HEADER, tokenMatches } from './guard.js';

export interface AdminTarget extends ActionTarget {
  services(): ServiceInfo[];
  metrics(): Promise<MetricFamily[]>;
  on(event: 'output', listener: (line: OutputLine) => void): unknown;
  on(event: 'log', listener: (record: LogRecord) => void): unknown;
  on(event: 'instance', listener: (info: InstanceInfo) => void): unknown;
  off(event: 'output', listener: (line: OutputLine) => void): unknown;
  off(event: 'log', listener: (record: LogRecord) => void): unknown;
  off(event: 'instance', listener: (info: InstanceInfo) => void): unknown;
}

export interface AdminOptions {
  host: string;
  /** More names allowed in `Host` (`admin.allowedHosts`, guard.ts). */
  allowedHosts?: readonly string[];
  /** 0 picks a free port. */
  port: number;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** The token actions need (default: 32 random bytes, base64url). */
  token?: string;
}

/** The largest action body read. */
const MAX_BODY = 16 * 1024;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Open connections to the admin listener at most. One more closes the one idle longest to be served
 * (ConnectionRoom), or is closed as it comes when every one has a request in progress. The event
 * streams take MAX_VIEWERS_WITHOUT_TOKEN + MAX_VIEWERS_WITH_TOKEN of them at most, so the rest stay for
 * scrapes and actions whoever opens streams.
 */
export const ADMIN_MAX_CONNECTIONS = 256;

/** A burst of refused connections or streams is one log line per this long. */
const REPORT_EVERY_MS = 10_000;

/** Calls `fn` at most once per REPORT_EVERY_MS (as the proxy's own, which admin/ does not import). */
function atMostEvery<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (...args: A) => {
    const now = Date.now();
    if (now - last < REPORT_EVERY_MS) return;
    last = now;
    fn(...args);
  };
}

const failure = (res: http.ServerResponse, status: number, code: ErrorCode, message: string) =>
  json(res, status, { ok: false, error: { code, message } });

export class AdminServer {
  readonly #target: AdminTarget;
  readonly #options: AdminOptions;
  readonly #server: http.Server;
  readonly #feed: EventFeed;
  readonly #sampler = new DashboardSampler();
  readonly #onOutput = (line: OutputLine) => this.#feed.line(outputLine(line));
  readonly #onLog = (record: LogRecord) => this.#feed.line(eventLine(record));
  readonly #onInstance = () => this.#feed.nudge();
  readonly token: string;
  #guard: GuardSettings;
  /** One limiter per kind: a flood of anonymous refusals does not hide the line of a page with the token. */
  readonly #streamRefusedBy = [false, true].map((withToken) =>
    atMostEvery((from: string) =>
      this.#options.log('warn', 'admin listener: an event stream was refused, too many are open', {
        withToken,
        max: withToken ? MAX_VIEWERS_WITH_TOKEN : MAX_VIEWERS_WITHOUT_TOKEN,
        from,
      }),
    ),
  );
  readonly #streamRefused = (withToken: boolean, from: string) =>
    this.#streamRefusedBy[withToken ? 1 : 0]?.(from);

  private constructor(target: AdminTarget, options: AdminOptions) {
    this.#target = target;
    this.#options = options;
    this.token = options.token ?? randomBytes(32).toString('base64url');
    this.#guard = {
      host: options.host,
      allowedHosts: options.allowedHosts ?? [],
      port: options.port,
      token: this.token,
    };
    this.#feed = new EventFeed(
      async () => this.#sampler.sample(await target.metrics(), target.services(), Date.now()),
      () => this.#sampler.refresh(target.services(), Date.now()),
      () => this.#sampler.reset(),
    );
    this.#server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      this.#handle(req, res).catch((error: Error) => {
        if (!res.headersSent) failure(res, 500, 'MSUP_ADMIN', error.message);
        else res.destroy();
      });
    });
    // Dashboards, scrapes and scripts are a handful: 800 idle streams were all accepted before, each a
    // descriptor of the ones the proxy shares. Not Node's maxConnections: it closes each connection
    // past the bound, and 256 sockets that never send a byte then locked out every scrape.
    const room = new ConnectionRoom(ADMIN_MAX_CONNECTIONS, this.#server);
    const fields = { maxConnections: ADMIN_MAX_CONNECTIONS };
    const madeRoom = atMostEvery(() =>
      options.log(
        'warn',
        'admin listener: connection limit reached, the connections idle longest are closed for new ones',
        fields,
      ),
    );
    const refused = atMostEvery(() =>
      options.log(
        'warn',
        'admin listener: connection limit reached, every connection has a request in progress: new connections are refused',
        fields,
      ),
    );
    this.#server.on('connection', (socket: net.Socket) => {
      const admitted = room.admit(socket);
      if (admitted === 'made-room') madeRoom();
      else if (admitted === 'refused') refused();
    });
    this.#server.on('request', (req, res) => room.request(req, res));
    // Failed accepts (EMFILE) once listening: logged, never fatal.
    this.#server.on('error', (error) => {
      if (this.#server.listening)
        options.log('warn', 'admin listener: a connection failed', { error: error.message });
    });
  }

  /** Binds the listener (MSUP_PORT_IN_USE names the port and the admin listener). */
  static async open(target: AdminTarget, options: AdminOptions): Promise<AdminServer> {
    const admin = new AdminServer(target, options);
    const port = await new Promise<number>((resolve, reject) => {
      const server = admin.#server;
      const onError = (error: NodeJS.ErrnoException) => {
        const inUse = error.code === 'EADDRINUSE';
        reject(
          new MsupError(
            inUse ? 'MSUP_PORT_IN_USE' : 'MSUP_START_FAILED',
            inUse
              ? `port ${options.port} for the admin listener is already in use (choose another with --admin or admin.port, or --no-admin)`
              : `cannot listen on ${options.host}:${options.port} for the admin listener: ${error.message}`,
            { cause: error, port: options.port },
          ),
        );
      };
      server.once('error', onError);
      server.listen({ port: options.port, host: options.host, exclusive: true }, () => {
        server.off('error', onError);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
    admin.#guard = { ...admin.#guard, port };
    target.on('output', admin.#onOutput);
    target.on('log', admin.#onLog);
    target.on('instance', admin.#onInstance);
    return admin;
  }

  /** `http://127.0.0.1:PORT/`. */
  get url(): string {
    return urlOf(this.#options.host, this.#guard.port);
  }

  /** The dashboard with the token (in the fragment: never sent to a server, nor in a Referer). */
  get dashboardUrl(): string {
    return `${this.url}#token=${this.token}`;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refused = refuseRequest(req.headers, this.#guard);
    if (refused) return failure(res, refused.status, 'MSUP_FORBIDDEN', refused.reason);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      // `//[` or `//a:b@/metrics`: a request target no URL can be made of (it was a 500).
      return failure(res, 400, 'MSUP_USAGE', `the request target ${JSON.stringify(req.url)} is not a path`);
    }
    if (req.method === 'POST' && url.pathname.startsWith('/api/')) {
      return this.#action(req, res, url.pathname.slice('/api/'.length));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD, POST');
      return failure(res, 405, 'MSUP_USAGE', `${req.method} is not served here`);
    }
    if (url.pathname === '/metrics') return this.#metrics(res);
    if (url.pathname === '/api/events') {
      // EventSource cannot send headers: the token comes in the query, and gives the log lines.
      const lines = tokenMatches(url.searchParams.get('token') ?? undefined, this.token);
      return this.#events(req, res, lines);
    }
    const file = asset(url.pathname);
    if (!file) return failure(res, 404, 'MSUP_USAGE', `nothing at ${url.pathname}`);
    const { body, type } = await file;
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** A new event stream, unless its kind (with the token or without) is at its bound; a HEAD gets its headers. */
  #events(req: http.IncomingMessage, res: http.ServerResponse, lines: boolean): void {
    if (!this.#feed.hasRoom(lines)) {
      this.#streamRefused(lines, req.socket.remoteAddress ?? 'unknown');
      const max = lines ? MAX_VIEWERS_WITH_TOKEN : MAX_VIEWERS_WITHOUT_TOKEN;
      // The connection is not kept: what it would hold is what the bound keeps for scrapes and actions.
      res.setHeader('connection', 'close');
      res.setHeader('retry-after', '10');
      failure(
        res,
        503,
        'MSUP_ADMIN',
        `too many event streams ${lines ? 'with' : 'without'} the token are open (${max}, the most this listener takes): close a dashboard page${lines ? '' : ', or open the dashboard with its token'}`,
      );
      return;
    }
    if (req.method === 'HEAD') {
      // Its headers only: a HEAD is no viewer, and its response ends (it was held open as a stream).
      res.writeHead(200, STREAM_HEADERS);
      res.end();
      return;
    }
    this.#feed.add(res, lines);
  }

  async #metrics(res: http.ServerResponse): Promise<void> {
    // prom-client loads with the first scrape only.
    const { prometheusText } = await import('./prometheus.js');
    const { contentType, text } = await prometheusText(await this.#target.metrics());
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(text);
  }

  async #action(req: http.IncomingMessage, res: http.ServerResponse, name: string): Promise<void> {
    const from = req.socket.remoteAddress ?? 'unknown';
    const token = req.headers[TOKEN_HEADER];
    const refused = refuseAction(
      { host: req.headers.host, origin: req.headers.origin, token: Array.isArray(token) ? token[0] : token },
      this.#guard,
    );
    if (refused) {
      this.#options.log('warn', 'admin action refused', { action: name, from, reason: refused.reason });
      return failure(res, refused.status, 'MSUP_FORBIDDEN', refused.reason);
    }
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (error) {
      return this.#badAction(res, name, from, (error as Error).message);
    }
    const action = parseAction(name, body);
    if ('problem' in action) return this.#badAction(res, name, from, action.problem);
    const { action: what, ...args } = action;
    this.#options.log('info', `admin action: ${what}`, { action: what, ...args, from });
    try {
      const result = await runAction(this.#target, action);
      json(res, 200, { ok: true, result });
    } catch (error) {
      const code: ErrorCode = isMsupError(error) ? error.code : 'MSUP_ADMIN';
      const status = code === 'MSUP_UNKNOWN_SERVICE' || code === 'MSUP_USAGE' ? 400 : 500;
      this.#options.log('warn', `admin action failed: ${what}`, { action: what, ...args, from, code });
      failure(res, status, code, (error as Error).message);
    }
  }

  /** An action that cannot run as asked (its body, its name): refused, and logged as every action is. */
  #badAction(res: http.ServerResponse, name: string, from: string, problem: string): void {
    this.#options.log('warn', 'admin action refused', { action: name, from, reason: problem });
    failure(res, 400, 'MSUP_USAGE', problem);
  }

  async close(): Promise<void> {
    this.#target.off('output', this.#onOutput);
    this.#target.off('log', this.#onLog);
    this.#target.off('instance', this.#onInstance);
    this.#feed.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }
}

/** The request body as JSON (at most MAX_BODY bytes; an empty body is `{}`). */
async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error(`the request body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  if (!/^application\/json\b/i.test(type)) throw new Error('expected Content-Type: application/json');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('the request body is not JSON');
  }
}
