// One proxied HTTP request: pick an instance, send, stream the response back unbuffered, and on a
// failure go to the next instance when nginx's rules allow it (or hold while no instance is ready).
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { isLocalShortage } from '../limits.js';
import { ABORTED, BODY_TIMEOUT, type ForwardTarget, NOT_FORWARDED, STALLED } from './forward-target.js';
import {
  downstreamHeaders,
  isNotForwarded,
  responseCodingProblem,
  sendableReason,
  upstreamHeaders,
} from './headers.js';
import { BodyReplay, hasBody, LazyBody } from './lazy-body.js';
import { STALE_CONNECTION } from './lean-pool.js';
import { discardBody } from './linger.js';
import type { Member } from './members.js';
import { originForm, replyText, targetAuthority } from './reply.js';
import { CLIENT_GONE } from './request-metrics.js';
import { InvalidResponse } from './response-parser.js';
import {
  classifyFailure,
  describeFailure,
  IDEMPOTENT,
  isReset,
  isResponseTimeout,
  isTimeout,
  mayRetry,
} from './retry.js';
import type { ExchangeHandler } from './upstream-pool.js';

export type { ForwardTarget } from './forward-target.js';

class Exchange implements ExchangeHandler {
  readonly #target: ForwardTarget;
  readonly #req: http.IncomingMessage;
  readonly #res: http.ServerResponse;
  readonly #path: string;
  readonly #headers: string[];
  readonly #deadline: number;
  readonly #tried = new Set<string>();
  readonly #startedAt = performance.now();
  /** The instance index whose response headers went to the client (-1: none), and their status. */
  #answeredBy = -1;
  #status = 0;
  #member: Member | undefined;
  #untrack: (() => void) | undefined;
  #abort: ((reason?: Error) => void) | undefined;
  #body: LazyBody | null = null;
  /** The body's bytes read so far, for another attempt (requests with a body). */
  #replay: BodyReplay | null = null;
  #retrySlot = false;
  /** A stale kept-alive connection's free retry was used. */
  #staleRetried = false;
  #clientGone = false;
  #done = false;
  /** The last failed attempt, for the answer when no instance is left to try (nginx: 504 after a timeout). */
  #lastFailure: { label: string; why: string; timedOut: boolean } | undefined;
  #cancelHold: (() => void) | undefined;
  #resume: (() => void) | undefined;
  #unwait: (() => void) | undefined;

  constructor(target: ForwardTarget, req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    this.#target = target;
    this.#req = req;
    this.#res = res;
    this.#path = path;
    const local = req.socket.localPort ?? 0;
    this.#headers = upstreamHeaders(req.rawHeaders, {
      peer: req.socket.remoteAddress ?? '',
      port: local,
      proto: 'http',
      requestId: randomUUID,
      host: targetAuthority(req.url ?? '/'),
    });
    this.#deadline = Date.now() + target.holdTimeoutMs;
    target.budget.active++;
    res.once('close', () => {
      if (this.#done) return;
      this.#clientGone = true;
      this.#cancelHold?.();
      this.#abort?.(ABORTED);
      if (!this.#member) this.#finish();
    });
  }

  next(): void {
    this.#cancelHold = undefined;
    if (this.#clientGone || this.#done) return;
    const target = this.#target;
    if (target.closing) {
      this.#reply(503, `${target.service} is shutting down`, { 'retry-after': '1', connection: 'close' });
      return;
    }
    const member = target.members.pick(this.#tried);
    if (!member) {
      // Nothing ready, or every instance failed this (retryable) request: wait for one to join.
      if (Date.now() < this.#deadline) {
        this.#cancelHold = target.hold(
          this.#deadline,
          () => this.next(),
          () => this.next(),
        );
        return;
      }
      const last = this.#lastFailure;
      if (this.#tried.size > 0) {
        const detail = last ? `; the last one, ${last.label}, failed: ${last.why}` : '';
        this.#reply(
          last?.timedOut ? 504 : 502,
          `no instance of ${target.service} could take the request${detail}`,
        );
      } else this.#reply(503, `no ready instance of ${target.service}`, { 'retry-after': '1' });
      return;
    }
    const retry = this.#tried.size > 0;
    this.#tried.add(member.key);
    this.#member = member;
    this.#abort = undefined;
    target.members.begin(member, retry);
    this.#untrack = target.track(member, () => this.#abort?.(ABORTED));
    // The last attempt's body lets go of the client's stream before this one's takes it.
    this.#body?.destroy();
    if (hasBody(this.#req)) this.#replay ??= new BodyReplay();
    const body = this.#replay
      ? new LazyBody(this.#req, target.bodyTimeoutMs, () => this.#abort?.(BODY_TIMEOUT), this.#replay)
      : null;
    this.#body = body;
    // A request that may go elsewhere is cut and sent on when another one to this instance times out.
    if (!body && IDEMPOTENT.has(this.#req.method ?? 'GET')) {
      this.#unwait = target.awaiting(member, () => this.#abort?.(STALLED));
    }
    target.pool(member).dispatch(
      {
        method: this.#req.method ?? 'GET',
        path: this.#path,
        headers: this.#headers,
        body,
        headersTimeout: target.responseTimeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#abort = abort;
    if (this.#clientGone) abort(ABORTED);
  }

  onHeaders(
    status: number,
    rawHeaders: readonly (Buffer | string)[],
    resume: () => void,
    statusText: string,
  ): boolean {
    if (this.#clientGone) return false;
    if (status < 200) return true; // 1xx: Node's server speaks for itself
    if (status === 503 && this.#member?.sidecar === true && isNotForwarded(rawHeaders)) {
      // The instance's sidecar says its app never got the request: no answer, a failed connect.
      this.#abort?.(NOT_FORWARDED);
      return false;
    }
    const coding = responseCodingProblem(rawHeaders);
    if (coding) {
      // undici frames `gzip, chunked` as chunked and a bare `gzip` by the close, and says nothing (the
      // lean client's parser refuses both): an invalid response, as there.
      this.#abort?.(new InvalidResponse(`invalid response from the instance: ${coding}`));
      return false;
    }
    this.#unwait?.();
    this.#unwait = undefined;
    this.#resume = resume;
    this.#answeredBy = (this.#member as Member).index;
    this.#status = status;
    // A reason Node refuses to send (the throw, inside undici's callback, left the client without an
    // answer): the status code's own goes out.
    if (sendableReason(statusText)) this.#res.writeHead(status, statusText, downstreamHeaders(rawHeaders));
    else this.#res.writeHead(status, downstreamHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#res.write(chunk)) return true;
    this.#res.once('drain', this.#resume as () => void);
    return false;
  }

  onComplete(): void {
    this.#endAttempt(false);
    this.#done = true;
    this.#res.end();
    this.#finish();
  }

  onError(error: Error): void {
    const code = (error as NodeJS.ErrnoException).code;
    if (
      code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' &&
      (this.#status === 204 || this.#status === 304) &&
      this.#res.headersSent
    ) {
      // undici holds a 204's or 304's Content-Length against the body neither has (for a 304 it is the
      // length the resource would have, RFC 9110 §8.6), after the head went on: the response is complete,
      // as the lean client and Node's own client take it, not a cut connection that ejects the instance.
      this.onComplete();
      return;
    }
    if ((code === 'UND_ERR_INVALID_ARG' || code === 'MSUP_INVALID_REQUEST') && !this.#res.headersSent) {
      // undici or the lean client refused the request itself (a header it will not send): the client's fault, not the instance's.
      this.#endAttempt(false);
      this.#reply(400, `the request cannot be forwarded: ${error.message}`, { connection: 'close' });
      return;
    }
    if (code === 'MSUP_BODY_TIMEOUT') {
      // The client's fault, not the instance's: 408, and the connection closes (nginx closes it too).
      this.#endAttempt(false);
      if (this.#res.headersSent) {
        this.#res.destroy();
        this.#finish();
      } else this.#reply(408, 'the request body stopped arriving', { connection: 'close' });
      this.#req.socket.destroySoon();
      return;
    }
    if (this.#clientGone || code === 'MSUP_CLIENT_GONE') {
      this.#endAttempt(false);
      this.#finish();
      if (!this.#res.destroyed) this.#res.destroy();
      return;
    }
    if (isLocalShortage(code)) {
      // msup itself is out of descriptors: the instance is not to blame, and another would fare no better.
      this.#endAttempt(false);
      this.#target.outOfDescriptors(code as string);
      this.#reply(503, `msup could not reach ${this.#target.service}: ${code} (out of file descriptors)`, {
        'retry-after': '1',
      });
      return;
    }
    if (code === STALE_CONNECTION && !this.#staleRetried && !this.#res.headersSent) {
      this.#staleRetried = true;
      this.#retryStale();
      return;
    }
    this.#endAttempt(true);
    const member = this.#member as Member;
    this.#member = undefined;
    const kind = classifyFailure({ code, name: error.name, message: error.message });
    const retryable = mayRetry({
      kind,
      method: this.#req.method ?? 'GET',
      bodyConsumed: this.#body ? !this.#body.replayable : false,
      responseStarted: this.#res.headersSent,
    });
    const why = describeFailure(code, kind, error.message);
    const timedOut = isTimeout(code);
    this.#lastFailure = { label: member.label, why, timedOut };
    // No answer in time: the instance may be frozen; it leaves rotation, and its other waiting requests
    // go elsewhere now rather than each waiting out its own timeout (HAProxy's on-error mark-down).
    if (isResponseTimeout(code)) this.#target.stalled(member);
    if (!retryable) this.#fail(member, why, false, timedOut);
    else if (kind === 'connect' || code === 'MSUP_STALLED') this.next();
    else if (!isReset(code)) this.#retryWithinBudget(member, why, timedOut);
    else {
      // A reset from an instance whose process just died (or that stopped listening) is no sign of
      // overload: its retry is free. Told apart by whether its port still takes connections.
      void this.#target.gone(member).then((gone) => {
        if (this.#clientGone || this.#done) return;
        if (gone) this.next();
        else this.#retryWithinBudget(member, why, timedOut);
      });
    }
  }

  /**
   * A reused connection closed before any answer (lean-pool.ts): not counted against the instance. An
   * idempotent request goes again, once, on a new connection, to this instance too if it comes up next
   * (Go's HTTP client does the same); any other gets the 502 it got before.
   */
  #retryStale(): void {
    this.#endAttempt(false);
    const member = this.#member as Member;
    this.#member = undefined;
    if (IDEMPOTENT.has(this.#req.method ?? 'GET')) {
      this.#tried.delete(member.key);
      this.next();
    } else this.#fail(member, 'connection closed before a response', false, false);
  }

  /** A retry after the instance got the request: only while the budget allows (Envoy's retry budget). */
  #retryWithinBudget(member: Member, why: string, timedOut: boolean): void {
    if (!this.#target.budget.acquire()) {
      this.#fail(member, why, true, timedOut);
      return;
    }
    this.#retrySlot = true;
    this.next();
  }

  /** The attempt failed and goes nowhere else: 504 after a timeout, as nginx answers, else 502. */
  #fail(member: Member, why: string, budgetSpent: boolean, timedOut: boolean): void {
    if (this.#res.headersSent) {
      this.#res.destroy();
      this.#finish();
      return;
    }
    const text = `${member.label} failed: ${why}${budgetSpent ? ' (retry budget spent)' : ''}`;
    this.#reply(timedOut ? 504 : 502, text);
  }

  #endAttempt(failed: boolean): void {
    this.#unwait?.();
    this.#unwait = undefined;
    const member = this.#member;
    if (!member) return;
    this.#untrack?.();
    this.#untrack = undefined;
    this.#target.members.end(member, failed);
    if (this.#retrySlot) {
      this.#retrySlot = false;
      this.#target.budget.release();
    }
  }

  #reply(status: number, text: string, headers?: Record<string, string>): void {
    this.#status = status;
    this.#done = true;
    this.#member = undefined;
    replyText(this.#res, status, text, headers);
    this.#finish();
  }

  #finishedOnce = false;
  #finish(): void {
    if (this.#finishedOnce) return;
    this.#finishedOnce = true;
    this.#done = true;
    if (!this.#req.complete) {
      // Answered before the whole body came (an early 413, say): the rest is read and dropped, as Node does
      // with a body no one reads and nginx with one it discards, for a bounded time (linger.ts). Left
      // unread, the client, still sending, stalled until the keep-alive timeout cut the connection with
      // its bytes unread: a reset, which could take the answer with it.
      this.#body?.destroy();
      discardBody(this.#req);
    }
    const metrics = this.#target.metrics;
    if (this.#answeredBy >= 0) {
      metrics.answered(this.#answeredBy, this.#status, (performance.now() - this.#startedAt) / 1000);
    } else metrics.own(this.#status || CLIENT_GONE);
    // A retry that ended without an attempt of its own (held, then 502/503; the client gone) gives back
    // its slot too: before, such slots were never returned and the budget shrank for good.
    if (this.#retrySlot) {
      this.#retrySlot = false;
      this.#target.budget.release();
    }
    this.#target.budget.active--;
  }
}

/** Forwards `req` to one of `target`'s instances, as `path` (the front may have stripped a prefix). */
export function forward(
  target: ForwardTarget,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path = req.url ?? '/',
): void {
  const origin = originForm(path);
  if (origin === undefined) {
    target.metrics.own(400);
    replyText(res, 400, `cannot forward a request for ${JSON.stringify(path)}`, { connection: 'close' });
    return;
  }
  new Exchange(target, req, res, origin).next();
}
