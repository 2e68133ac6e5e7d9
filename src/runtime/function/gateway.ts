// A function as the supervisor sees it: one instance whose endpoint is this gateway, an HTTP server in
// msup's own process (API Gateway's part). Each request gets an environment from the pool (a cold start
// when none is free), runs there within the timeout, and is answered: the handler's result mapped back, or
// 429 / 502 / 504 as Lambda and API Gateway answer. A REPORT line follows each invocation.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Endpoint, InstanceSpec, RuntimeHost } from '../../contract.js';
import { MAX_DURATION_MS } from '../../limits.js';
import { discardBody } from '../../proxy/linger.js';
import type { ExitInfo, OutputLine, ResolvedService } from '../../types.js';
import { groupUsage } from '../proc.js';
import { billedMs, CostMeter } from './billing.js';
import { Environment, type InvokeOutcome } from './environment.js';
import {
  errorResponse,
  fromResult,
  type HttpResponseParts,
  type IncomingRequest,
  MALFORMED,
  malformedLine,
  toEvent,
} from './event.js';
import {
  eventTooLarge,
  framedHeaders,
  inProcessUpstream,
  type Reply,
  readWhole,
  sentBody,
  tooLarge,
} from './in-process.js';
import { EnvironmentPool, type Lease, type PoolError } from './pool.js';
import { reportLine } from './report.js';

/** How often the environments' memory is read against their memory size. */
const MEMORY_POLL_MS = 100;
/** Every environment's memory is read every this many readings (500 ms); in between, only busy ones'. */
const GROUP_SCAN_EVERY = 5;
const MB = 1024 * 1024;
/**
 * Environments a request is offered to when each ends before its runtime takes the request (an HTTP
 * service's: before it is sent, or after when it may be sent again).
 */
const UNDELIVERED_TRIES = 3;

/** `unsent`: the deadline passed while the request waited for another environment, which never got it. */
type Outcome = InvokeOutcome | { kind: 'timeout'; unsent?: true };

/** What earlier attempts at a request that ran (and failed) cost: billed with the one that answered. */
interface Earlier {
  durationMs: number;
  /** The inits of those of them that were cold starts, if any. */
  initMs?: number;
}

function send(res: http.ServerResponse, parts: HttpResponseParts, requestId?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(parts.statusCode, framedHeaders(parts, requestId));
  res.end(sentBody(parts, res.req.method));
}

export interface GatewayOptions {
  host: RuntimeHost;
  spec: InstanceSpec;
  clock: Clock;
  onOutput(line: OutputLine): void;
}

export class Gateway {
  readonly endpoint: Endpoint;
  readonly startedAt = Date.now();
  readonly exited: Promise<ExitInfo>;
  readonly pool: EnvironmentPool<Environment>;
  readonly #o: GatewayOptions;
  readonly #service: ResolvedService;
  readonly #server: http.Server;
  readonly #meter = new CostMeter();
  readonly #arn: string;
  readonly #counts = { errors: 0, timeouts: 0, outOfMemory: 0 };
  #sequence = 0;
  #closing: Promise<void> | undefined;
  #killed = false;
  #memoryTimer: TimerHandle | undefined;
  #memoryReadings = 0;
  #markExited: (exit: ExitInfo) => void = () => {};

  private constructor(o: GatewayOptions, server: http.Server, port: number) {
    this.#o = o;
    this.#service = o.spec.service;
    this.#server = server;
    // A handler function's front hands it requests in process (in-process.ts); an HTTP function's
    // requests go on to an environment's server, so they come over loopback like any other.
    this.endpoint = {
      host: '127.0.0.1',
      port,
      ...(this.#service.handler
        ? {
            inProcess: inProcessUpstream((request, body, reply) => this.#serve(request, body, reply)),
          }
        : {}),
    };
    this.#arn = `arn:aws:lambda:local:000000000000:function:${this.#service.name}`;
    this.exited = new Promise((resolve) => {
      this.#markExited = resolve;
    });
    const fn = this.#service.function;
    this.pool = new EnvironmentPool<Environment>(
      {
        concurrency: fn.concurrency,
        target: fn.target,
        minInstances: fn.minInstances,
        maxInstances: fn.maxInstances,
        idleTimeoutMs: fn.idleTimeoutMs,
        scaleToZeroGraceMs: fn.scaleToZeroGraceMs,
        initTimeoutMs: fn.initTimeoutMs,
        overflow: fn.overflow,
        waitTimeoutMs: waitTimeoutMs(this.#service),
        stopTimeoutMs: this.#service.stopTimeoutMs,
      },
      {
        create: (provisioned) => this.#createEnvironment(provisioned),
        initFailed: (error, attempt) => {
          const type = (error as { errorType?: unknown }).errorType;
          this.#say(
            'stderr',
            `INIT failed (attempt ${attempt} of 2): ${typeof type === 'string' ? `${type}: ` : ''}${error.message}`,
          );
        },
      },
      o.clock,
    );
  }

  static async open(o: GatewayOptions): Promise<Gateway> {
    const port = await o.host.ports.allocate();
    const server = http.createServer({ requestTimeout: 0 });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      o.host.ports.release(port);
      throw error;
    }
    const gateway = new Gateway(o, server, port);
    server.on('request', (req, res) => gateway.#onRequest(req, res));
    gateway.pool.start();
    gateway.#watchMemory();
    return gateway;
  }

  /** A line from the gateway itself (REPORT, timeouts), through the instance's output. */
  #say(stream: 'stdout' | 'stderr', line: string): void {
    this.#o.onOutput({
      service: this.#service.name,
      index: this.#o.spec.index,
      stream,
      line,
      source: 'function',
    });
  }

  #createEnvironment(provisioned: boolean): Promise<Environment> {
    const { spec, host } = this.#o;
    return Environment.start({
      host,
      service: this.#service,
      index: spec.index,
      sequence: ++this.#sequence,
      env: spec.env,
      provisioned,
      onOutput: (stream, line) =>
        this.#o.onOutput({ service: this.#service.name, index: spec.index, stream, line }),
    });
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.#closing) {
      res.setHeader('connection', 'close');
      send(res, errorResponse(503, 'Service Unavailable'));
      return;
    }
    const reply: Reply = (parts, requestId) => send(res, parts, requestId);
    if (!this.#service.handler) {
      void this.#forward(req, res, reply);
      return;
    }
    readWhole(req, (body, error) => {
      if (error) return; // the client went away
      if (body === null) {
        // Answered while the client may still be sending: the rest is read and dropped for a bounded
        // time, as the front does (Node's own discard reads it for ever).
        send(res, tooLarge());
        discardBody(req);
        return;
      }
      const request: IncomingRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        remoteAddress: req.socket.remoteAddress ?? '',
      };
      this.#serve(request, body, reply);
    });
  }

  /** A handler function's request, from its server or from the front in process. */
  #serve(request: IncomingRequest, body: Buffer, reply: Reply): void {
    if (this.#closing) reply(errorResponse(503, 'Service Unavailable'));
    else
      void this.#invoke(request, body, reply).catch((error: Error) =>
        this.#say('stderr', `the gateway could not answer a request: ${error.message}`),
      );
  }

  /** An environment for this request, or the answer that says why there is none (429, 502, 503). */
  async #acquire(reply: Reply): Promise<Lease<Environment> | null> {
    try {
      return await this.pool.acquire();
    } catch (error) {
      const e = error as PoolError;
      if (e.kind === 'throttled') reply(errorResponse(429, 'Too Many Requests', e.errorType));
      else if (e.kind === 'init-failed') {
        this.#say('stderr', `${e.errorType}: ${e.message} (tried twice)`);
        reply(errorResponse(502, MALFORMED, e.errorType));
      } else reply(errorResponse(503, 'Service Unavailable', e.errorType));
      return null;
    }
  }

  /**
   * Settles with the invocation's outcome, or `timeout` at `deadline` (clock time; the environment is then
   * ended, or drained). The deadline is the request's, not the attempt's: one sent to another environment
   * has what is left of its timeout there, as a Lambda invocation has one timeout however it is delivered.
   */
  #within(
    lease: Lease<Environment>,
    requestId: string,
    running: Promise<InvokeOutcome>,
    deadline: number,
  ): Promise<Outcome> {
    const { clock } = this.#o;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(
        () => {
          lease.env.forget(requestId);
          resolve({ kind: 'timeout' });
        },
        Math.max(0, deadline - clock.now()),
      );
      void running.then((outcome) => {
        clock.clearTimeout(timer);
        resolve(outcome);
      });
    });
  }

  /**
   * The next environment for a request, with the request's deadline: set when the first environment takes
   * it (a cold start's init or a wait is not the function's time). `late`: none of the time is left.
   */
  async #attempt(
    reply: Reply,
    deadline: number | undefined,
  ): Promise<{ lease: Lease<Environment>; began: number; deadline: number; late: boolean } | null> {
    const lease = await this.#acquire(reply);
    if (!lease) return null;
    const began = this.#o.clock.now();
    return {
      lease,
      began,
      deadline: deadline ?? began + this.#service.function.timeoutMs,
      late: deadline !== undefined && began >= deadline,
    };
  }

  async #invoke(request: IncomingRequest, body: Buffer, reply: Reply): Promise<void> {
    const requestId = randomUUID();
    const event = JSON.stringify(
      toEvent(request, body, { requestId, epochMs: Date.now(), apiId: this.#service.name }),
    );
    // Lambda's 6 MB is the event's, not the body's: a binary body grows by a third as base64.
    if (eventTooLarge(event)) {
      reply(tooLarge());
      return;
    }
    const { clock } = this.#o;
    let lease: Lease<Environment> | null;
    let outcome: Outcome;
    let began = 0;
    // Set when the first environment takes the request: a cold start's init or a wait for an environment is
    // not the function's time (the init has its own cap), but an environment that never took it is.
    let deadline: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const next = await this.#attempt(reply, deadline);
      if (!next) return;
      ({ lease, began, deadline } = next);
      if (next.late) {
        outcome = { kind: 'timeout', unsent: true };
        break;
      }
      outcome = await this.#within(
        lease,
        requestId,
        lease.env.invoke({
          id: requestId,
          event,
          deadlineEpochMs: Date.now() + (deadline - began),
          arn: this.#arn,
        }),
        deadline,
      );
      // Its environment ended before its runtime asked for it (one that exits after its answer): it never
      // ran, so another environment takes it, a new one if need be (as Lambda does), and it is not billed.
      // Not without end.
      if (outcome.kind !== 'exited' || !outcome.undelivered || attempt === UNDELIVERED_TRIES) break;
      this.pool.discard(lease, true);
    }
    const durationMs = clock.now() - began;
    try {
      if (outcome.kind === 'response') {
        const parts = fromResult(outcome.body.toString());
        if (parts.malformed) this.#say('stderr', malformedLine(requestId, parts.malformed));
        reply(parts, requestId);
      } else if (outcome.kind === 'error') reply(errorResponse(502, MALFORMED, outcome.errorType), requestId);
    } finally {
      // Whatever became of the answer, the environment is released (or ended) and the REPORT written.
      this.#finish(lease, requestId, outcome, durationMs, reply);
    }
  }

  async #forward(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): Promise<void> {
    const requestId = randomUUID();
    const { clock } = this.#o;
    let lease: Lease<Environment> | null;
    let outcome: Outcome;
    let began = 0;
    // As a handler's: one timeout for the request, from when the first environment takes it.
    let deadline: number | undefined;
    let resent = false;
    // The attempt that was cut after it may have run: billed and in the REPORT's Duration, as it ran.
    const earlier: Earlier = { durationMs: 0 };
    for (let attempt = 1; ; attempt++) {
      const next = await this.#attempt(reply, deadline);
      if (!next) return;
      ({ lease, began, deadline } = next);
      if (next.late) {
        outcome = { kind: 'timeout', unsent: true };
        break;
      }
      outcome = await this.#within(lease, requestId, lease.env.forward(req, res), deadline);
      // Refused before a byte of it was written (an environment on its way out): it never ran, so another
      // environment takes it, as a handler's does. One that may have run goes again only as the front
      // proxy would send it again: an idempotent method, nothing of its body or answer spent; and once
      // only, so that a request that makes every environment cut it costs one more environment, not three.
      if (outcome.kind !== 'exited' || attempt === UNDELIVERED_TRIES) break;
      if (outcome.undelivered) this.pool.discard(lease, true);
      else if (outcome.resend && !resent) {
        resent = true;
        this.#counts.errors++;
        earlier.durationMs += clock.now() - began;
        if (lease.cold && lease.initMs !== null) earlier.initMs = (earlier.initMs ?? 0) + lease.initMs;
        this.#say(
          'stderr',
          `${outcome.errorType}: ${outcome.message} (${req.method} sent to another environment)`,
        );
        // One that others share (a concurrency above 1) and may still be alive takes no new request and
        // ends once they are answered, as after a timeout: ending it now would fail them all.
        if (this.#service.function.concurrency === 1) this.pool.discard(lease);
        else this.pool.retire(lease);
      } else break;
    }
    this.#finish(lease, requestId, outcome, clock.now() - began, reply, earlier);
  }

  /** After an invocation: the answer for a failure, the environment released or ended, the REPORT line. */
  #finish(
    lease: Lease<Environment>,
    requestId: string,
    outcome: Outcome,
    durationMs: number,
    reply: Reply,
    earlier: Earlier = { durationMs: 0 },
  ): void {
    const fn = this.#service.function;
    let status: { status: 'timeout' | 'error'; errorType?: string } | undefined;
    if (outcome.kind === 'timeout') {
      this.#counts.timeouts++;
      status = { status: 'timeout' };
      this.#say(
        'stderr',
        `${new Date().toISOString()} ${requestId} Task timed out after ${(fn.timeoutMs / 1000).toFixed(2)} seconds`,
      );
      reply(errorResponse(504, 'Endpoint request timed out', 'Sandbox.Timedout'), requestId);
      // Lambda ends the environment (it serves one request); one that others share ends when they are
      // answered. One that was never given the request is as good as it was.
      if (outcome.unsent) this.pool.release(lease);
      else if (fn.concurrency === 1) this.pool.discard(lease);
      else this.pool.retire(lease);
    } else if (outcome.kind === 'exited') {
      if (outcome.errorType === 'Runtime.OutOfMemory') this.#counts.outOfMemory++;
      else this.#counts.errors++;
      status = { status: 'error', errorType: outcome.errorType };
      this.#say('stderr', `${outcome.errorType}: ${outcome.message}`);
      reply(errorResponse(502, MALFORMED, outcome.errorType), requestId);
      this.pool.discard(lease);
    } else if (outcome.kind === 'error' && outcome.exiting) {
      // Posted on its way out (a crash): released, it took the next request and failed it (ExitError).
      this.#counts.errors++;
      if (fn.concurrency === 1) this.pool.discard(lease);
      else this.pool.retire(lease);
    } else {
      if (outcome.kind === 'error') this.#counts.errors++;
      this.pool.release(lease);
    }
    // The inits of the cold starts it ran after, and the time it ran in each environment (not the ones
    // that never got it: Lambda bills an invocation that ran, not one it delivered again).
    const ownInit = lease.cold && lease.initMs !== null && !unsent(outcome) ? lease.initMs : undefined;
    const initMs =
      ownInit === undefined && earlier.initMs === undefined
        ? undefined
        : (ownInit ?? 0) + (earlier.initMs ?? 0);
    durationMs = (unsent(outcome) ? 0 : durationMs) + earlier.durationMs;
    const billed = billedMs(durationMs, initMs ?? 0);
    this.#meter.add(billed, fn.memoryMb);
    this.#say(
      'stdout',
      reportLine({
        requestId,
        durationMs,
        billedMs: billed,
        memoryMb: fn.memoryMb,
        maxMemoryMb: lease.env.peakMb(),
        initMs,
        status,
      }),
    );
  }

  /** Ends an environment whose resident memory goes over the memory size (its request gets 502 Runtime.OutOfMemory). */
  #watchMemory(): void {
    const limit = this.#service.function.memoryMb * MB;
    this.#memoryTimer = this.#o.clock.setTimeout(async () => {
      // Every environment is read every GROUP_SCAN_EVERY readings (500 ms), an HTTP service's as its
      // process group, which only a scan of every process in /proc finds: one scan for all of them. In
      // between, only the environments with a request in flight, each by its main process's own memory
      // (one file). A scan per environment at every reading kept msup's process at 8% of a core with 8
      // environments sitting idle, on a machine of 72 processes (1.45% read like this).
      this.#memoryReadings++;
      const full = this.#memoryReadings % GROUP_SCAN_EVERY === 0;
      const envs = full
        ? this.pool.environments()
        : this.pool.snapshot().flatMap((s) => (s.inFlight > 0 && s.env ? [s.env] : []));
      const groupPids = envs.flatMap((e) => (e.kind === 'http' && e.pid !== null ? [e.pid] : []));
      const groups = full && groupPids.length > 0 ? await groupUsage(groupPids) : undefined;
      for (const env of envs) {
        const now = env.memory(groups);
        if (now && now.rssBytes > limit && !env.oom) {
          env.oom = true;
          this.#say(
            'stderr',
            `Runtime.OutOfMemory: environment ${env.id} uses ${Math.ceil(now.rssBytes / MB)} MB of ${this.#service.function.memoryMb} MB: ended`,
          );
          env.kill();
        }
      }
      if (!this.#closing) this.#watchMemory();
    }, MEMORY_POLL_MS);
  }

  /** What `msup status` shows of the function: environments, cold starts, errors, cost so far. */
  details(): Record<string, unknown> {
    const fn = this.#service.function;
    const envs = this.pool.snapshot();
    const count = (state: string) => envs.filter((e) => e.state === state).length;
    const c = this.pool.counters;
    return {
      kind: this.#service.handler ? 'handler' : 'http',
      profile: fn.profile,
      concurrency: fn.concurrency,
      minInstances: fn.minInstances,
      maxInstances: fn.maxInstances,
      memoryMb: fn.memoryMb,
      timeoutMs: fn.timeoutMs,
      idleTimeoutMs: fn.idleTimeoutMs,
      environments: {
        warm: count('busy') + count('idle'),
        busy: count('busy'),
        idle: count('idle'),
        starting: count('starting'),
        reaped: c.reaped,
        ended: c.ended,
      },
      list: envs.map((e) => ({
        id: e.env?.id ?? null,
        pid: e.env?.pid ?? null,
        state: e.state,
        inFlight: e.inFlight,
        invocations: e.invocations,
        initMs: e.initMs === null ? null : Math.round(e.initMs * 100) / 100,
        provisioned: e.provisioned,
      })),
      coldStarts: c.coldStarts,
      invocations: c.invocations,
      errors: this.#counts.errors,
      timeouts: this.#counts.timeouts,
      outOfMemory: this.#counts.outOfMemory,
      throttles: c.throttled,
      initFailures: c.initFailures,
      cost: this.#meter.cost(),
    };
  }

  /** Stops taking requests and ends every environment (SIGTERM, SIGKILL after `timeoutMs`). Idempotent. */
  stop(timeoutMs: number): Promise<void> {
    this.#closing ??= (async () => {
      this.#o.clock.clearTimeout(this.#memoryTimer);
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeIdleConnections();
      await this.pool.stop(timeoutMs);
      this.#server.closeAllConnections();
      await closed;
      this.#o.host.ports.release(this.endpoint.port);
      const at = Date.now();
      this.#markExited({
        code: this.#killed ? null : 0,
        signal: this.#killed ? 'SIGKILL' : null,
        at,
        uptimeMs: at - this.startedAt,
      });
    })();
    return this.#closing;
  }

  kill(): void {
    this.#killed = true;
    this.pool.kill();
    void this.stop(0);
  }
}

function unsent(outcome: Outcome): boolean {
  return outcome.kind === 'timeout' && outcome.unsent === true;
}

/** How long a request may wait for an environment: two inits (the retry) and one invocation's timeout. */
export function waitTimeoutMs(service: ResolvedService): number {
  // Each is at most a timer's limit, not their sum: past it a timer would fire after 1 ms.
  return Math.min(MAX_DURATION_MS, 2 * service.function.initTimeoutMs + service.function.timeoutMs);
}
