// The front's way into a handler function's gateway without a loopback hop: the gateway runs in msup's
// own process, so the front hands it each request as an upstream pool would (the same callbacks as the
// lean client and undici), and takes the answer back the same way. This saves the front → gateway
// connection's two writes, two reads and an HTTP parse per request (BENCHMARKS.md, the function
// runtime). The gateway keeps its port for everything else (probes, callers that are not the front).
import http from 'node:http';
import type { ExchangeHandler, UpstreamPool, UpstreamRequest } from '../../proxy/upstream-pool.js';
import type { HttpResponseParts, IncomingRequest } from './event.js';

/** How the gateway answers one request: once, with the parts and the request id where there is one. */
export type Reply = (parts: HttpResponseParts, requestId?: string) => void;

/** What the gateway serves in process: a request with its whole body, answered through `reply`. */
export type Serve = (request: IncomingRequest, body: Buffer, reply: Reply) => void;

const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

/** Reads a request body (a Buffer, a stream or none) whole, up to `limit` bytes (over it: null). */
function readBody(
  body: UpstreamRequest['body'],
  limit: number,
  done: (body: Buffer | null, error?: Error) => void,
): void {
  if (body === null || Buffer.isBuffer(body)) {
    const whole = body ?? Buffer.alloc(0);
    done(whole.length > limit ? null : whole);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  body.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  });
  body.once('end', () => done(size > limit ? null : Buffer.concat(chunks)));
  body.once('error', (error: Error) => done(null, error));
}

/**
 * An upstream pool whose requests `serve` answers in this process. `tooLarge` answers a body over
 * `maxBodyBytes` (413, as the gateway's server does).
 */
export function inProcessUpstream(
  serve: Serve,
  maxBodyBytes: number,
  tooLarge: () => HttpResponseParts,
): UpstreamPool {
  return {
    dispatch(request: UpstreamRequest, handler: ExchangeHandler): void {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        handler.onError(error);
      };
      handler.onConnect((reason) => fail(reason ?? coded('MSUP_ABORTED', 'aborted')));
      if (settled) return; // aborted at once
      if (request.headersTimeout > 0) {
        timer = setTimeout(
          () => fail(coded('MSUP_RESPONSE_TIMEOUT', 'no response headers in time')),
          request.headersTimeout,
        );
      }
      const reply: Reply = (parts, requestId) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const headers = [...parts.headers, 'content-length', String(parts.body.length)];
        if (requestId) headers.push('x-amzn-requestid', requestId);
        const status = parts.statusCode;
        if (!handler.onHeaders(status, headers, () => {}, http.STATUS_CODES[status] ?? '')) return;
        if (request.method !== 'HEAD' && parts.body.length > 0) handler.onData(parts.body);
        handler.onComplete(null);
      };
      readBody(request.body, maxBodyBytes, (body, error) => {
        if (error) fail(error);
        else if (body === null) reply(tooLarge());
        else if (!settled) {
          const incoming: IncomingRequest = {
            method: request.method,
            url: request.path,
            httpVersion: '1.1',
            rawHeaders: request.headers,
            remoteAddress: '127.0.0.1',
          };
          serve(incoming, body, reply);
        }
      });
    },
    close: async () => {},
    destroy: async () => {},
  };
}
