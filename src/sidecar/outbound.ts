// The sidecar's outbound side: one listener per peer service, where the app's MSUP_<PEER>_URL points.
// Each request goes to an instance picked by the balancer among those the circuit breaker lets through,
// with a time limit, and retries (on another instance where there is one) within the limit and the budget.
import http from 'node:http';
import { LazyBody } from '../proxy/lazy-body.js';
import { DEFAULT_LINGER, type LingerBounds } from '../proxy/linger.js';
import { createUpstreamPool, type UpstreamPool } from '../proxy/upstream-pool.js';
import { Balancer } from './balancer.js';
import { CircuitBreaker, type PeerBreakers } from './breaker.js';
import {
  type Answer,
  BODY_TIMEOUT_MS,
  bodyStopped,
  countHeaders,
  hasBody,
  LISTENER_OPTIONS,
  lingerAfterAnswer,
  refusedHead,
  SendError,
  send,
  upstreamHeaders,
  writeAnswerHead,
} from './forward.js';
import { random } from './inbound.js';
import type { PeerEndpoint, SidecarSettings, TlsMaterial } from './messages.js';
import { type GoldenMetrics, routeOf } from './metrics.js';
import { RetryBudget } from './retry-budget.js';
import { meshConnectOptions } from './tls.js';
import { continueTrace, TRACESTATE } from './traceparent.js';

/** A request body up to this size is kept, so the request can be retried; a larger one is streamed once. */
export const MAX_REPLAY_BYTES = 64 * 1024;
/** Methods that may be sent again after an instance may have acted on them. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Dropped from a request whose trace starts here: its tracestate is of no trace sent on. */
const DROP_STATE: ReadonlySet<string> = new Set([TRACESTATE]);
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
  /** How long a request body may pause before a 408 (BODY_TIMEOUT_MS by default; 0: no limit). */
  bodyTimeoutMs?: number;
  /** How long the rest of a body answered early is read and dropped, in all and between reads (proxy/linger.ts). */
  lingerTimeMs?: number;
  lingerTimeoutMs?: number;
  /** A line for msup's log of the service (the circuit breaker's ejections and recoveries). */
  log?(line: string): void;
}

interface Attempt {
  response?: Answer;
  error?: SendError;
  ms: number;
}

export class Outbound {
  readonly #o: OutboundOptions;
  readonly #linger: LingerBounds;
  readonly #server: http.Server;
  readonly #balancer: Balancer;
  readonly #budget: RetryBudget;
  readonly #breakers = new Map<string, CircuitBreaker>();
  /** Ejections since this sidecar started, of any instance (a counter: instances that go keep theirs). */
  #ejections = 0;
  #endpoints = new Map<string, PeerEndpoint>();
  /** A keep-alive pool per instance called (TLS to a sidecar's mesh port, plain to an instance outside the mesh). */
  #pools = new Map<string, UpstreamPool>();
  #tls: TlsMaterial;

  constructor(options: OutboundOptions) {
    this.#o = options;
    this.#linger = {
      timeMs: options.lingerTimeMs ?? DEFAULT_LINGER.timeMs,
      timeoutMs: options.lingerTimeoutMs ?? DEFAULT_LINGER.timeoutMs,
    };
    const s = options.settings;
    this.#balancer = new Balancer(s.balancing, options.now, options.random);
    this.#budget = new RetryBudget(
      { ratio: s.retryBudget, minPerSecond: s.minRetriesPerSecond },
      options.now,
    );
    this.#tls = options.tls;
    this.#server = countHeaders(
      http.createServer(LISTENER_OPTIONS, (req, res) => {
        if (refusedHead(req, res)) return;
        this.#handle(req, res).catch((error: Error) => reply(res, 502, error.message));
      }),
    );
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
    for (const [key, pool] of this.#pools) {
      if (this.#endpoints.has(key)) continue;
      this.#pools.delete(key);
      void pool.close();
    }
  }

  #pool(key: string, endpoint: PeerEndpoint): UpstreamPool {
    let pool = this.#pools.get(key);
    if (!pool) {
      const tls = endpoint.tls ? meshConnectOptions(this.#tls, this.#o.identity) : undefined;
      pool = createUpstreamPool(endpoint.host, endpoint.port, tls);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * A renewed certificate: new TLS pools present it; the old ones take no new request, and close once
   * the requests they carry are done.
   */
  rotate(tls: TlsMaterial): void {
    this.#tls = tls;
    for (const [key, pool] of this.#pools) {
      if (!this.#endpoints.get(key)?.tls) continue;
      this.#pools.delete(key);
      void pool.close();
    }
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

  /**
   * The breakers of the instances in rotation, for status and metrics (a member not called yet has a
   * closed breaker); null without a circuit breaker.
   */
  breakers(): PeerBreakers | null {
    if (!this.#o.settings.breaker) return null;
    const members = [...this.#endpoints.keys()].map((address) => {
      const view = this.#breakers.get(address)?.view() ?? {
        state: 'closed' as const,
        consecutiveFailures: 0,
        since: null,
        until: null,
        ejections: 0,
      };
      return { address, ...view };
    });
    return { peer: this.#o.peer, ejections: this.#ejections, members };
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
    const trace = continueTrace(req.headers.traceparent, random);
    const headers = upstreamHeaders(
      req,
      { traceparent: trace.traceparent },
      trace.started ? DROP_STATE : undefined,
    );
    const method = req.method ?? 'GET';
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    // Read as it is kept or sent; a client that stops sending it gets 408 after the idle time, as from the front.
    const source = hasBody(req)
      ? new LazyBody(req, this.#o.bodyTimeoutMs ?? BODY_TIMEOUT_MS, () => {
          abort.abort();
          source?.destroy();
          bodyStopped(req, res);
        })
      : null;
    // A peer's early 413, or the 503 when no instance is ready before the body was read.
    lingerAfterAnswer(req, res, this.#linger, source);
    const body = await readBody(req, source).catch((error: Error) => {
      if (abort.signal.aborted) return undefined;
      throw error;
    });
    if (body === undefined || abort.signal.aborted) return;
    const replayable = body !== 'stream';
    const deadline = settings.timeoutMs > 0 ? Date.now() + settings.timeoutMs : Number.POSITIVE_INFINITY;
    const tried = new Set<string>();
    let key = this.#pick(tried);
    if (key === null) {
      const why =
        this.#endpoints.size === 0
          ? `no instance of ${peer} is ready`
          : `every instance of ${peer} is ejected by the circuit breaker`;
      return reply(res, 503, why);
    }
    this.#budget.request();
    let last: Attempt;
    for (let attempt = 0; ; attempt++) {
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
        body: body === 'stream' ? source : body,
        timeoutMs: Number.isFinite(tryMs) ? Math.max(1, tryMs) : 0,
        signal: abort.signal,
      });
      if (abort.signal.aborted) {
        last.response?.discard();
        return;
      }
      const status = last.response?.status ?? 0;
      const failure = last.error?.failure;
      const retryable =
        replayable &&
        (failure === 'connect' ||
          (IDEMPOTENT.has(method) && (failure !== undefined || RETRY_STATUS.has(status))));
      const timeLeft = deadline - Date.now() > 0;
      if (!retryable || attempt >= settings.retries || !timeLeft) break;
      // No instance left to try (this failure may have ejected the last one): the app gets this attempt's
      // answer (its status, body, Retry-After), not a 503 of the sidecar's, and no retry is spent on it.
      const next = this.#pick(tried);
      if (next === null || !this.#budget.tryRetry()) break;
      last.response?.discard();
      retries++;
      key = next;
    }
    if (last.response) {
      if (writeAnswerHead(res, last.response)) {
        last.response.pipeTo(res);
        return;
      }
      return reply(res, 502, `${peer}: its answer's head cannot be sent on`);
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
      headers: string[];
      body: Buffer | NodeJS.ReadableStream | null;
      timeoutMs: number;
      signal: AbortSignal;
    },
  ): Promise<Attempt> {
    const endpoint = this.#endpoints.get(key) as PeerEndpoint;
    const breaker = this.#breaker(key);
    const ticket = breaker?.begin();
    this.#balancer.start(key);
    const began = performance.now();
    let result: Attempt;
    try {
      const response = await send(this.#pool(key, endpoint), request);
      if (response.notForwarded && endpoint.tls) {
        // The peer's sidecar could not reach its app: a failed connect, not an answer (nor passed on).
        // Only a sidecar (its mesh port) may say so: from an instance outside the mesh the header is its
        // app's own, and a POST that app executed must not go to another instance.
        response.discard();
        const error = new SendError('connect', 'its sidecar could not reach the app');
        result = { error, ms: performance.now() - began };
      } else result = { response, ms: performance.now() - began };
    } catch (error) {
      const failure = error instanceof SendError ? error : new SendError('connect', (error as Error).message);
      result = { error: failure, ms: performance.now() - began };
    }
    const ok = result.response !== undefined && result.response.status < 500;
    this.#balancer.finish(key, result.ms, ok);
    if (breaker && ticket) {
      const peer = `${this.#o.peer} instance ${key}`;
      if (ok) {
        if (breaker.success(ticket))
          this.#o.log?.(`circuit breaker: ${peer} is back in rotation (its trial request succeeded)`);
      } else if (request.signal.aborted) breaker.cancel(ticket);
      else if (breaker.failure(ticket)) {
        this.#ejections++;
        const why = ticket.trial
          ? 'its trial request failed'
          : `${this.#o.settings.breaker?.failures} failures in a row`;
        this.#o.log?.(`circuit breaker: ${peer} ejected for ${seconds(breaker.ejectionMs)} (${why})`);
      }
    }
    return result;
  }

  close(): void {
    this.#server.close();
    this.#server.closeAllConnections();
    for (const pool of this.#pools.values()) void pool.destroy();
    this.#pools.clear();
  }
}

/**
 * The body kept in memory when small enough to replay; 'stream' when it is larger (or of unknown size):
 * then `source` is sent once.
 */
async function readBody(
  req: http.IncomingMessage,
  source: LazyBody | null,
): Promise<Buffer | null | 'stream'> {
  const length = req.headers['content-length'];
  if (source === null) {
    req.resume();
    return null;
  }
  if (req.headers['transfer-encoding'] !== undefined) return 'stream';
  if (Number(length) > MAX_REPLAY_BYTES) return 'stream';
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
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

/** A length of time for a log line: `500ms`, `30s`, `2.5s`. */
function seconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 100) / 10}s`;
}
