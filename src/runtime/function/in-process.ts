// The front's way into a handler function's gateway without a loopback hop: the gateway runs in msup's
// own process, so the front hands it each request as an upstream pool would (the same callbacks as the
// lean client and undici), and takes the answer back the same way. This saves the front → gateway
// connection's two writes, two reads and an HTTP parse per request (BENCHMARKS.md, the function
// runtime). The gateway keeps its port for everything else (probes, callers that are not the front).
import http from 'node:http';
import type { ExchangeHandler, UpstreamPool, UpstreamRequest } from '../../proxy/upstream-pool.js';
import { errorResponse, type HttpResponseParts, type IncomingRequest } from './event.js';

/**
 * Lambda's limit on a synchronous request payload: the event's JSON (eventTooLarge). A body is read up to
 * it (readWhole), as no event is smaller than its body.
 */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

/** Whether an event (its JSON) is over Lambda's payload limit (then 413, as the body's own was). */
export const eventTooLarge = (eventJson: string) => Buffer.byteLength(eventJson) > MAX_REQUEST_BYTES;

/** How the gateway answers one request: once, with the parts and the request id where there is one. */
export type Reply = (parts: HttpResponseParts, requestId?: string) => void;

/** What the gateway serves in process: a request with its whole body, answered through `reply`. */
export type Serve = (request: IncomingRequest, body: Buffer, reply: Reply) => void;

const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

/** The gateway's answer to a body over MAX_REQUEST_BYTES, from its server or in process. */
export const tooLarge = (): HttpResponseParts => errorResponse(413, 'Request Entity Too Large');

/** RFC 9110 (6.4.1, 8.6): a 204 or a 304 has no content, and a 204 no Content-Length. */
export const bodiless = (statusCode: number) => statusCode === 204 || statusCode === 304;

/** The body an answer sends: none for a 204 or 304, whatever the handler gave (nor for a HEAD request). */
export function sentBody(parts: HttpResponseParts, method?: string): Buffer | undefined {
  return bodiless(parts.statusCode) || method === 'HEAD' || parts.body.length === 0 ? undefined : parts.body;
}

/**
 * An answer's headers as they go out: its own, its length (not for a 204 or 304: a `{statusCode: 204,
 * body: 'hello'}` went out with content-length: 5), and the request id where there is one (twice).
 */
export function framedHeaders(parts: HttpResponseParts, requestId?: string): string[] {
  const headers = bodiless(parts.statusCode)
    ? [...parts.headers]
    : [...parts.headers, 'content-length', String(parts.body.length)];
  // apigw-requestid is the HTTP API's header; x-amzn-requestid (the REST API's) is kept for callers of old.
  if (requestId) headers.push('apigw-requestid', requestId, 'x-amzn-requestid', requestId);
  return headers;
}

/**
 * Reads a request body (a Buffer, a stream or none) whole, up to MAX_REQUEST_BYTES, for the gateway's
 * server and for the front in process alike. Over it: null as soon as the limit is passed, the bytes read
 * let go and the stream paused, so that its 413 goes out while the client is still sending; the caller
 * drains the rest with the front's lingering close (discardBody). Before, the body was read to its end
 * first: one that never ended was read for ever, with its first 6 MB held, and never answered.
 */
export function readWhole(
  body: Buffer | NodeJS.ReadableStream | null,
  done: (body: Buffer | null, error?: Error) => void,
): void {
  if (body === null || Buffer.isBuffer(body)) {
    const whole = body ?? Buffer.alloc(0);
    done(whole.length > MAX_REQUEST_BYTES ? null : whole);
    return;
  }
  let chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) {
      chunks.push(chunk);
      return;
    }
    settled = true;
    chunks = [];
    body.off('data', onData);
    body.pause();
    done(null);
  };
  body.on('data', onData);
  body.once('end', () => {
    if (settled) return;
    settled = true;
    done(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  });
  // Kept after the limit too: an error with no listener left would end msup.
  body.once('error', (error: Error) => {
    if (settled) return;
    settled = true;
    done(null, error);
  });
}

/** An upstream pool whose requests `serve` answers in this process (a body over the limit: 413). */
export function inProcessUpstream(serve: Serve): UpstreamPool {
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
        const status = parts.statusCode;
        const headers = framedHeaders(parts, requestId);
        if (!handler.onHeaders(status, headers, () => {}, http.STATUS_CODES[status] ?? '')) return;
        const body = sentBody(parts, request.method);
        if (body) handler.onData(body);
        handler.onComplete(null);
      };
      readWhole(request.body, (body, error) => {
        if (error) fail(error);
        // Over the limit: answered at once; the front reads and drops the rest (its lingering close).
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
