// What an HTTP service's environment needs beyond its process: knowing when it is ready (its readiness
// probe, polled every 10 ms as Lambda's Web Adapter polls), and passing a request to it and the answer back.
import http from 'node:http';
import net from 'node:net';
import { hasBody } from '../../proxy/lazy-body.js';
import { classifyFailure, type FailureKind, mayRetry } from '../../proxy/retry.js';
import type { ResolvedFunction } from '../../types.js';

/** How often a starting environment's readiness is checked. */
export const READY_POLL_MS = 10;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

/** One readiness check: GET path answers 2xx/3xx, or the port accepts a connection. */
export function checkReady(readiness: ResolvedFunction['readiness'], port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (readiness.kind === 'tcp') {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.end();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      return;
    }
    const req = http.get(
      { host: '127.0.0.1', port, path: readiness.path, agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function withoutHopByHop(raw: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP_BY_HOP.has((raw[i] as string).toLowerCase())) kept.push(raw[i] as string, raw[i + 1] as string);
  }
  return kept;
}

/**
 * How a request the environment failed went: `connect` when it never reached the environment (the
 * connection was refused or cut before a byte of it was written), else as the front proxy tells failures
 * apart (retry.ts). `retry`: it may go to another environment, by the front proxy's rules (nginx's): any
 * method when it was never delivered, else only an idempotent one whose body and answer are not spent.
 */
export interface ForwardFailure {
  error: Error;
  kind: FailureKind;
  retry: boolean;
}

/**
 * Sends the request to the environment on `port` and streams the answer back. Resolves with the status
 * once the answer has ended, with the failure when the environment failed before answering, or `gone` when
 * the client left first (before the request was passed on, or during the answer): the request to the
 * environment is then cut, as Knative's queue-proxy cancels it, and the environment is not to blame.
 * `signal` cuts the request (the environment ended): the failure still says whether it was delivered.
 *
 * The request is read from the client only once the connection is made, so that one refused leaves its
 * body unread for another environment.
 */
export function forward(
  agent: http.Agent,
  port: number,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  signal?: AbortSignal,
): Promise<{ statusCode: number } | { failure: ForwardFailure } | { gone: true }> {
  return new Promise((resolve) => {
    // The client left while it waited for an environment.
    if (res.destroyed) {
      resolve({ gone: true });
      return;
    }
    let sending = false;
    let answered = false;
    const fail = (error: Error) => {
      const kind: FailureKind = sending ? classifyFailure(error as NodeJS.ErrnoException) : 'connect';
      const retry = mayRetry({
        kind,
        method: req.method ?? 'GET',
        bodyConsumed: sending && hasBody(req),
        responseStarted: answered || res.headersSent,
      });
      resolve({ failure: { error, kind, retry } });
    };
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        answered = true;
        const statusCode = answer.statusCode ?? 502;
        // Answered already (a 504 at the function's timeout, a 502 when the environment was ended), or a
        // head Node will not send: the answer is dropped. Writing it threw inside an event handler, which
        // ended msup.
        let dropped: Error | undefined;
        if (res.headersSent || res.destroyed)
          dropped = new Error('the environment answered after the request had been answered');
        else {
          try {
            res.writeHead(statusCode, withoutHopByHop(answer.rawHeaders));
          } catch (error) {
            dropped = error as Error;
          }
        }
        if (dropped) {
          answer.resume();
          upstream.destroy();
          fail(dropped);
          return;
        }
        answer.pipe(res);
        answer.once('end', () => resolve({ statusCode }));
        answer.once('aborted', () => fail(new Error('the environment cut its answer')));
        answer.once('error', fail);
      },
    );
    upstream.once('error', fail);
    // Closed without an error or an answer: settled as a failure all the same (the answer's own events
    // settle it once it came).
    upstream.once('close', () => {
      if (!answered) fail(new Error('the connection to the environment closed'));
    });
    // A reused connection is made already; a new one once it connects.
    upstream.once('socket', (socket) => {
      const send = () => {
        sending = true;
        req.pipe(upstream);
      };
      if (socket.connecting) socket.once('connect', send);
      else send();
    });
    const cut = () => upstream.destroy(new Error('the environment ended'));
    if (signal?.aborted) cut();
    else signal?.addEventListener('abort', cut, { once: true });
    // Closed before the whole answer was written: the client left.
    res.once('close', () => {
      if (res.writableFinished) return;
      resolve({ gone: true });
      upstream.destroy();
    });
  });
}
