// An HTTP request as API Gateway's HTTP API payload 2.0 event, and a handler's result back as an HTTP
// response, as API Gateway maps them. Pure: the gateway (functions) and msup's handler server (the other
// runtimes) both use it.
import { validateHeaderName, validateHeaderValue } from 'node:http';

/** Headers of a handler's result that the answer's own framing replaces (API Gateway drops them too). */
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);

export interface HttpEventV2 {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

export interface IncomingRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  httpVersion: string;
  /** Node's rawHeaders: name, value, name, value, ... */
  rawHeaders: readonly string[];
  /** The peer's address (the front proxy's X-Forwarded-For first entry wins). */
  remoteAddress: string;
}

/** Bodies of these types reach the handler as text; any other body is base64 (`isBase64Encoded`). */
const TEXT_TYPE =
  /^\s*(text\/|[^;]*[/+](json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|graphql)\s*(;|$))/i;

export function isTextType(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXT_TYPE.test(contentType);
}

/** Headers of one connection, which API Gateway does not pass on. */
// `transfer-encoding` too: the gateway reads the whole body (as API Gateway does), so the event carries
// a whole body however it was framed on the way in (a front in process, or a client's chunked upload).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** `12/Mar/2020:19:03:58 +0000`, as requestContext.time is written. */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * Adds `value` under `key`, joined by a comma to one already there. Own keys only: `constructor` or
 * `__proto__` as a name is a name (`key in` saw Object's, and `into[key] =` set the prototype).
 */
function addJoined(into: Record<string, string>, key: string, value: string): void {
  const joined = Object.hasOwn(into, key) ? `${into[key]},${value}` : value;
  Object.defineProperty(into, key, { value: joined, enumerable: true, writable: true, configurable: true });
}

/** Query parameters with duplicates joined by commas; undefined without a query. */
function queryParameters(raw: string): Record<string, string> | undefined {
  if (raw === '') return undefined;
  const params: Record<string, string> = {};
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    addJoined(params, key, value);
  }
  return params;
}

export function toEvent(
  req: IncomingRequest,
  body: Buffer,
  context: { requestId: string; epochMs: number; apiId: string },
): HttpEventV2 {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (HOP_BY_HOP.has(name)) continue;
    if (name === 'cookie') {
      for (const c of value.split(';')) if (c.trim() !== '') cookies.push(c.trim());
      continue;
    }
    addJoined(headers, name, value);
  }
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQueryString = q < 0 ? '' : req.url.slice(q + 1);
  const domainName = headers.host ?? 'localhost';
  const forwarded = headers['x-forwarded-for'];
  const event: HttpEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: context.apiId,
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: req.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: forwarded ? (forwarded.split(',')[0] as string).trim() : req.remoteAddress,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: context.requestId,
      routeKey: '$default',
      stage: '$default',
      time: requestTime(context.epochMs),
      timeEpoch: context.epochMs,
    },
    isBase64Encoded: false,
  };
  if (cookies.length > 0) event.cookies = cookies;
  const query = queryParameters(rawQueryString);
  if (query) event.queryStringParameters = query;
  if (body.length > 0) {
    const text = isTextType(headers['content-type']);
    event.body = body.toString(text ? 'utf8' : 'base64');
    event.isBase64Encoded = !text;
  }
  return event;
}

export interface HttpResponseParts {
  statusCode: number;
  /** Flat name, value, name, value, ... (set-cookie repeated). */
  headers: string[];
  body: Buffer;
  /** Why a result was answered 502 (a malformed response): for the log, never sent. */
  malformed?: string;
}

/** What API Gateway answers for its own errors: a JSON message, and Lambda's error type where there is one. */
export function errorResponse(statusCode: number, message: string, errorType?: string): HttpResponseParts {
  const headers = ['content-type', 'application/json'];
  if (errorType) headers.push('x-amzn-errortype', errorType);
  return { statusCode, headers, body: Buffer.from(JSON.stringify({ message })) };
}

export const MALFORMED = 'Internal Server Error';

/** API Gateway's 502 for a malformed result, with the reason msup logs. */
const malformed = (reason: string): HttpResponseParts => ({
  ...errorResponse(502, MALFORMED),
  malformed: reason,
});

/** The line the gateway (or the handler server) logs for a malformed result, so its 502 has a reason. */
export const malformedLine = (requestId: string, reason: string) =>
  `${requestId} Malformed Lambda proxy response (answered 502): ${reason}`;

/** A JSON value's kind, for a reason: `an object`, `an array`, `a number`, ... */
function kind(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  const type = typeof value;
  return type === 'object' || type === 'undefined' ? `an ${type}` : `a ${type}`;
}

/** A header value as API Gateway takes it: a string, or a number or boolean written out; else undefined. */
function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/**
 * A handler's result (its JSON, as the runtime posted it) as an HTTP response: an object with a
 * `statusCode` is a response (headers, cookies, body, isBase64Encoded); anything else is a 200 JSON body
 * (a string as it is). A malformed response is API Gateway's 502, with the reason in `malformed`: a
 * value that is not what the payload 2.0 response has (a body that is not a string, a header value that is
 * an object or an array, `cookies` that is not an array of strings) was written out as "[object Object]".
 */
export function fromResult(json: string): HttpResponseParts {
  let result: unknown;
  try {
    result = JSON.parse(json);
  } catch {
    return malformed('the result is not JSON');
  }
  if (result === null || typeof result !== 'object' || !('statusCode' in result)) {
    const body = typeof result === 'string' ? result : json;
    return { statusCode: 200, headers: ['content-type', 'application/json'], body: Buffer.from(body) };
  }
  const r = result as {
    statusCode: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  const status = r.statusCode;
  // A 1xx is no final answer: through the front the body went out as a 200, on the gateway's own port the
  // client waited for the answer after it.
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)
    return malformed(`statusCode ${JSON.stringify(status)} is not a number from 200 to 599`);
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string')
    return malformed(`body is ${kind(r.body)}, not a string (JSON.stringify it)`);
  const headers: string[] = [];
  if (r.headers !== undefined && r.headers !== null) {
    if (typeof r.headers !== 'object' || Array.isArray(r.headers))
      return malformed(`headers is ${kind(r.headers)}, not an object`);
    for (const [name, value] of Object.entries(r.headers as Record<string, unknown>)) {
      if (value === undefined || value === null) continue;
      // Payload 2.0 has no multi-value headers: a value is one string (several joined by commas).
      const text = headerText(value);
      if (text === undefined)
        return malformed(`header ${JSON.stringify(name)} is ${kind(value)}, not a string`);
      // The gateway frames the answer itself (its own Content-Length), as API Gateway does.
      if (!FRAMING.has(name.toLowerCase())) headers.push(name, text);
    }
  }
  if (r.cookies !== undefined && r.cookies !== null) {
    if (!Array.isArray(r.cookies)) return malformed(`cookies is ${kind(r.cookies)}, not an array of strings`);
    for (const c of r.cookies) {
      if (typeof c !== 'string') return malformed(`a cookie is ${kind(c)}, not a string`);
      headers.push('set-cookie', c);
    }
  }
  // A name that is not a token, or a value with a control character or one past U+00FF, cannot be sent:
  // a malformed response, as API Gateway answers it (and not a throw from writeHead later).
  for (let i = 0; i < headers.length; i += 2) {
    try {
      validateHeaderName(headers[i] as string);
      validateHeaderValue(headers[i] as string, headers[i + 1] as string);
    } catch (error) {
      return malformed(`header ${JSON.stringify(headers[i])} cannot be sent: ${(error as Error).message}`);
    }
  }
  const text = typeof r.body === 'string' ? r.body : '';
  const body = r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text);
  return { statusCode: status, headers, body };
}
