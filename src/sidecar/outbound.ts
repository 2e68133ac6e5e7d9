// The sidecar's outbound side: one listener per peer service, where the app's MSUP_<PEER>_URL points.
// Each request goes to an instance picked by the balancer among those the circuit breaker lets through,
// with a time limit, and retries (on another instance where there is one) within the limit and the budget.
import http from 'node:http';
import type https from 'node:https';
import { Balancer } from './balancer.js';
import { CircuitBreaker } from './breaker.js';
import { endToEnd, SendError, send } from './forward.js';
import { random } from './inbound.js';
import type { PeerEndpoint, SidecarSettings, TlsMaterial } from './messages.js';
import { type GoldenMetrics, routeOf } from './metrics.js';
import { RetryBudget } from './retry-budget.js';
import { meshAgent, plainAgent, retireAgent } from './tls.js';
import { continueTrace } from './traceparent.js';

/** A request body up to this size is kept, so the request can be retried; a larger one is streamed once. */
export const MAX_REPLAY_BYTES = 64 * 1024;
/** Methods that may be sent again after an instance may have acted on them. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Answers that mean "try another instance" (for an idempotent request). */
const RETRY_STATUS = new Set([502, 503, 504]);

export interface OutboundOptions {
  peer: string;
  host: string;
  port: number;
  /** The identity the peer's sidecars must show. */
  identity: string;
  settings: SidecarSettings;
  tls: TlsMaterial;
  metrics: GoldenMetrics;
  now(): number;
  random(): number;
}

interface Attempt {
  response?: http.IncomingMessage;
  error?: SendError;
  ms: number;
}

export class Outbound {
  readonly #o: OutboundOptions;
  readonly #server: http.Server;
  readonly #balancer: Balancer;
  readonly #budget: RetryBudget;
  readonly #breakers = new Map<string, CircuitBreaker>();
  #endpoints = new Map<string, PeerEndpoint>();
  #mesh: https.Agent;
  readonly #plain = plainAgent();

  constructor(options: OutboundOptions) {
    this.#o = options;
    const s = options.settings;
    this.#balancer = new Balancer(s.balancing, options.now, options.random);
    this.#budget = new RetryBudget(
      { ratio: s.retryBudget, minPerSecond: s.minRetriesPerSecond },
      options.now,
    );
    this.#mesh = meshAgent(options.tls, options.identity);
    this.#server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      this.#handle(req, res).catch((error: Error) => reply(res, 502, error.message));
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#o.host, port: this.#o.port, exclusive: true }, () => resolve());
    });
  }

  /** The peer's instances in rotation now. */
  setEndpoints(endpoints: readonly PeerEndpoint[]): void {
    this.#endpoints = new Map(endpoints.map((e) => [`${e.host}:${e.port}`, e]));
    this.#balancer.sync([...this.#endpoints.keys()]);
    for (const key of this.#breakers.keys()) if (!this.#endpoints.has(key)) this.#breakers.delete(key);
  }

  /** A renewed certificate: new connections present it; open ones finish on the old agent. */
  rotate(tls: TlsMaterial): void {
    const old = this.#mesh;
    this.#mesh = meshAgent(tls, this.#o.identity);
    retireAgent(old, Math.max(30_000, this.#o.settings.timeoutMs));
  }

  #breaker(key: string): CircuitBreaker | null {
    const settings = this.#o.settings.breaker;
    if (!settings) return null;
    let breaker = this.#breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker(settings, this.#o.now);
      this.#breakers.set(key, breaker);
    }
    return breaker;
  }

  /** The breakers' states, for status: instance → state (only those not closed). */
  breakers(): Record<string, string> {
    const open: Record<string, string> = {};
    for (const [key, breaker] of this.#breakers) if (breaker.state !== 'closed') open[key] = breaker.state;
    return open;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const { settings, peer } = this.#o;
    const route = routeOf(req.url);
    let retries = 0;
    res.once('close', () => {
      const status = res.headersSent && res.writableFinished ? res.statusCode : 0;
      this.#o.metrics.record('outbound', peer, route, status, performance.now() - started, retries);
    });
    const headers = endToEnd(req.headers);
    headers.traceparent = continueTrace(req.headers.traceparent, random).traceparent;
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const replayable = body !== 'stream';
    const deadline = settings.timeoutMs > 0 ? Date.now() + settings.timeoutMs : Number.POSITIVE_INFINITY;
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const tried = new Set<string>();
    this.#budget.request();
    let last: Attempt | null = null;
    for (let attempt = 0; ; attempt++) {
      const key = this.#pick(tried);
      if (key === null) {
        last?.response?.resume();
        const why =
          this.#endpoints.size === 0
            ? `no instance of ${peer} is ready`
            : `every instance of ${peer} is ejected by the circuit breaker`;
        return reply(res, 503, why);
      }
      tried.add(key);
      const left = deadline - Date.now();
      const tryMs = Math.min(
        settings.tryTimeoutMs > 0 ? settings.tryTimeoutMs : Number.POSITIVE_INFINITY,
        left,
      );
      last = await this.#try(key, {
        method,
        path: req.url ?? '/',
        headers,
        body: body === 'stream' ? req : body,
        timeoutMs: Number.isFinite(tryMs) ? Math.max(1, tryMs) : 0,
        signal: abort.signal,
      });
      if (abort.signal.aborted) {
        last.response?.resume();
        return;
      }
      const status = last.response?.statusCode ?? 0;
      const failure = last.error?.failure;
      const retryable =
        replayable &&
        (failure === 'connect' ||
          (IDEMPOTENT.has(method) && (failure !== undefined || RETRY_STATUS.has(status))));
      const timeLeft = deadline - Date.now() > 0;
      if (retryable && attempt < settings.retries && timeLeft && this.#budget.tryRetry()) {
        last.response?.resume();
        retries++;
        continue;
      }
      break;
    }
    if (last.response) {
      const upstream = last.response;
      res.writeHead(upstream.statusCode ?? 502, upstream.statusMessage, endToEnd(upstream.headers));
      upstream.pipe(res);
      upstream.once('error', () => res.destroy());
      return;
    }
    const timedOut = last.error?.failure === 'timeout' || deadline <= Date.now();
    reply(res, timedOut ? 504 : 502, `${peer}: ${last.error?.message ?? 'no answer'}`);
  }

  /** An instance the breaker lets through, preferring one not tried yet for this request. */
  #pick(tried: ReadonlySet<string>): string | null {
    const allowed = (key: string) => this.#breaker(key)?.allows() ?? true;
    return this.#balancer.pick((key) => !tried.has(key) && allowed(key)) ?? this.#balancer.pick(allowed);
  }

  async #try(
    key: string,
    request: {
      method: string;
      path: string;
      headers: http.OutgoingHttpHeaders;
      body: Buffer | NodeJS.ReadableStream | null;
      timeoutMs: number;
      signal: AbortSignal;
    },
  ): Promise<Attempt> {
    const endpoint = this.#endpoints.get(key) as PeerEndpoint;
    const breaker = this.#breaker(key);
    breaker?.begin();
    this.#balancer.start(key);
    const began = performance.now();
    let result: Attempt;
    try {
      const response = await send({
        agent: endpoint.tls ? this.#mesh : this.#plain,
        tls: endpoint.tls,
        host: endpoint.host,
        port: endpoint.port,
        ...request,
      });
      result = { response, ms: performance.now() - began };
    } catch (error) {
      const failure = error instanceof SendError ? error : new SendError('connect', (error as Error).message);
      result = { error: failure, ms: performance.now() - began };
    }
    const ok = result.response !== undefined && (result.response.statusCode ?? 502) < 500;
    this.#balancer.finish(key, result.ms, ok);
    if (ok) breaker?.success();
    else if (request.signal.aborted) breaker?.cancel();
    else breaker?.failure();
    return result;
  }

  close(): void {
    this.#server.close();
    this.#server.closeAllConnections();
    this.#mesh.destroy();
    this.#plain.destroy();
  }
}

/** The body kept in memory when small enough to replay; 'stream' when it is larger (or of unknown size). */
async function readBody(req: http.IncomingMessage): Promise<Buffer | null | 'stream'> {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined) return 'stream';
  if (length === undefined || length === '0') {
    req.resume();
    return null;
  }
  if (Number(length) > MAX_REPLAY_BYTES) return 'stream';
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function reply(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain', 'x-msup-sidecar': 'outbound' });
  res.end(`msup sidecar: ${text}\n`);
}
