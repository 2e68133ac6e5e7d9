// The proxy's other pure parts: retry rules and budget, route matching, header rewriting, interim responses.
import { describe, expect, it } from 'vitest';
import { downstreamHeaders, isLoopback, upstreamHeaders } from '../../src/proxy/headers.js';
import { InterimFilter } from '../../src/proxy/interim.js';
import { classifyFailure, describeFailure, isTimeout, mayRetry, RetryBudget } from '../../src/proxy/retry.js';
import { describeRoutes, hostName, matchRoute, sortRoutes } from '../../src/proxy/routes.js';

describe('retry rules (nginx proxy_next_upstream)', () => {
  const base = { method: 'GET', bodyConsumed: false, responseStarted: false };
  it('sends a refused connect to the next instance for any method', () => {
    expect(classifyFailure({ code: 'ECONNREFUSED' })).toBe('connect');
    expect(mayRetry({ ...base, kind: 'connect', method: 'POST' })).toBe(true);
  });
  it('retries a reset or timeout after sending only for idempotent methods', () => {
    expect(classifyFailure({ code: 'ECONNRESET' })).toBe('sent');
    expect(classifyFailure({ code: 'UND_ERR_HEADERS_TIMEOUT' })).toBe('sent');
    expect(mayRetry({ ...base, kind: 'sent', method: 'PUT' })).toBe(true);
    expect(mayRetry({ ...base, kind: 'sent', method: 'POST' })).toBe(false);
    expect(mayRetry({ ...base, kind: 'sent', method: 'PATCH' })).toBe(false);
  });
  it('never retries once the body was read or the response started, nor a garbage answer', () => {
    expect(mayRetry({ ...base, kind: 'connect', bodyConsumed: true })).toBe(false);
    expect(mayRetry({ ...base, kind: 'sent', responseStarted: true })).toBe(false);
    expect(classifyFailure({ code: 'HPE_INVALID_CONSTANT' })).toBe('bad-response');
    // undici's words for responses it cannot take, as the lean client's MSUP_INVALID_RESPONSE.
    expect(classifyFailure({ code: 'UND_ERR_HEADERS_OVERFLOW' })).toBe('bad-response');
    expect(classifyFailure({ code: 'ERR_ASSERTION' })).toBe('bad-response');
    expect(classifyFailure({ code: 'UND_ERR_SOCKET', message: 'bad upgrade' })).toBe('bad-response');
    expect(classifyFailure({ code: 'UND_ERR_SOCKET', message: 'other side closed' })).toBe('sent');
    expect(mayRetry({ ...base, kind: 'bad-response' })).toBe(false);
  });
});

describe('describeFailure: words for a 502 or 504 body, never a bare code', () => {
  it('puts system codes after their words, replaces undici and msup codes, and words any other code', () => {
    expect(describeFailure('ECONNREFUSED', 'connect', 'connect ECONNREFUSED 127.0.0.1:1')).toBe(
      'connection refused (ECONNREFUSED)',
    );
    expect(describeFailure('UND_ERR_SOCKET', 'sent', 'other side closed')).toBe(
      'connection closed before a response',
    );
    expect(describeFailure('MSUP_ABORTED', 'sent', 'aborted')).toBe('aborted (MSUP_ABORTED)');
    expect(describeFailure('UND_ERR_WHATEVER', 'sent', '')).toBe('unexpected error (UND_ERR_WHATEVER)');
    expect(describeFailure(undefined, 'sent', 'socket hang up')).toBe('socket hang up');
  });
  it('takes a connect or response timeout for a timeout (504), a reset not', () => {
    expect(
      ['UND_ERR_HEADERS_TIMEOUT', 'MSUP_RESPONSE_TIMEOUT', 'MSUP_CONNECT_TIMEOUT'].map(isTimeout),
    ).toEqual([true, true, true]);
    expect(isTimeout('ECONNRESET')).toBe(false);
  });
});

describe('RetryBudget (Envoy: 20% of active requests, at least 3)', () => {
  it('allows at least the minimum, then a share of the active requests', () => {
    const budget = new RetryBudget({ percent: 20, minConcurrent: 3 });
    budget.active = 5;
    expect([budget.acquire(), budget.acquire(), budget.acquire(), budget.acquire()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    budget.active = 50;
    expect(budget.limit).toBe(10);
    expect(budget.acquire()).toBe(true);
    budget.release();
    budget.release();
    expect(budget.retrying).toBe(2);
  });
});

describe('routes', () => {
  const routes = sortRoutes([
    { path: '/', service: 'web' },
    { path: '/api', service: 'api', stripPrefix: true },
    { path: '/api/admin', service: 'admin' },
    { host: 'admin.localhost', service: 'admin' },
  ]);
  it('takes the longest prefix on a segment boundary', () => {
    expect(matchRoute(routes, 'x', '/api/users?q=1')).toMatchObject({
      route: { service: 'api' },
      path: '/users?q=1',
    });
    expect(matchRoute(routes, 'x', '/api')?.path).toBe('/');
    expect(matchRoute(routes, 'x', '/api?x=1')?.path).toBe('/?x=1');
    expect(matchRoute(routes, 'x', '/api/admin/x')).toMatchObject({
      route: { service: 'admin' },
      path: '/api/admin/x',
    });
    expect(matchRoute(routes, 'x', '/apix')?.route.service).toBe('web');
  });
  it('prefers a route for the request host, and reports unmatched requests with the routes', () => {
    expect(matchRoute(routes, hostName('Admin.Localhost:8080'), '/api')?.route.service).toBe('admin');
    const only = sortRoutes([{ path: '/api', service: 'api' }]);
    expect(matchRoute(only, 'x', '/other')).toBeUndefined();
    expect(describeRoutes(only, 'x', '/other')).toBe('no route for x/other\nroutes:\n  */api -> api');
    expect(hostName('[::1]:80')).toBe('[::1]');
  });
});

describe('headers', () => {
  const ctx = (peer: string) => ({ peer, port: 8080, proto: 'http' as const, requestId: () => 'rid' });
  const toObject = (flat: string[]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) out[flat[i]!.toLowerCase()] = flat[i + 1]!;
    return out;
  };
  it('strips hop-by-hop headers (and those named in Connection), keeps Host, adds X-Request-Id', () => {
    const h = toObject(
      upstreamHeaders(
        [
          'Host',
          'a.test:8080',
          'Connection',
          'keep-alive, X-Secret',
          'X-Secret',
          '1',
          'TE',
          'trailers',
          'Accept',
          '*/*',
        ],
        ctx('127.0.0.1'),
      ),
    );
    expect(h).toEqual({
      host: 'a.test:8080',
      accept: '*/*',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'a.test:8080',
      'x-forwarded-port': '8080',
      'x-request-id': 'rid',
    });
  });
  it('appends to X-Forwarded-For from a loopback peer, replaces it from any other', () => {
    const incoming = ['X-Forwarded-For', '10.0.0.1', 'X-Forwarded-Proto', 'https', 'X-Request-Id', 'given'];
    const trusted = toObject(upstreamHeaders(incoming, ctx('::ffff:127.0.0.1')));
    expect(trusted['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(trusted['x-forwarded-proto']).toBe('https');
    expect(trusted['x-request-id']).toBe('given');
    const outside = toObject(upstreamHeaders(incoming, ctx('192.168.1.9')));
    expect(outside['x-forwarded-for']).toBe('192.168.1.9');
    expect(outside['x-forwarded-proto']).toBe('http');
    expect(isLoopback('::1')).toBe(true);
  });
  it('drops the other spellings of who the client is from a peer not on loopback, keeps them from one', () => {
    const incoming = [
      'X_Forwarded_For',
      '6.6.6.6',
      'Forwarded',
      'for=6.6.6.6',
      'x-forwarded_host',
      'evil.test',
    ];
    const outside = toObject(upstreamHeaders(incoming, ctx('192.168.1.9')));
    expect(Object.keys(outside).filter((k) => k.includes('_') || k === 'forwarded')).toEqual([]);
    expect(outside['x-forwarded-for']).toBe('192.168.1.9');
    const trusted = toObject(upstreamHeaders(incoming, ctx('127.0.0.1')));
    expect(trusted).toMatchObject({ x_forwarded_for: '6.6.6.6', forwarded: 'for=6.6.6.6' });
  });
  it('strips hop-by-hop headers from responses', () => {
    const raw = [
      'Content-Type',
      'text/plain',
      'Connection',
      'close',
      'Transfer-Encoding',
      'chunked',
      'X-A',
      '1',
    ];
    expect(downstreamHeaders(raw.map((s) => Buffer.from(s)))).toEqual([
      'Content-Type',
      'text/plain',
      'X-A',
      '1',
    ]);
  });
});

describe('InterimFilter: the 1xx before a final answer, out of what undici reads', () => {
  /** What passes when `bytes` come in pieces of `step` after a request went out. */
  const passed = (bytes: string, step: number) => {
    const filter = new InterimFilter();
    filter.expectResponse();
    let out = '';
    for (let at = 0; at < bytes.length; at += step) {
      out += filter.take(Buffer.from(bytes.slice(at, at + step), 'latin1'))?.toString('latin1') ?? '';
    }
    return out;
  };
  const final = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

  it('drops 100, 102, 103 (with or without a reason) before the final answer, however it is split', () => {
    const interim =
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 102\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n';
    for (const step of [1, 2, 5, 13, 1000]) expect(passed(`${interim}${final}`, step)).toBe(final);
  });

  it('passes on the final answer, a 101 and what is not HTTP untouched, and drops nothing after them', () => {
    for (const step of [1, 3, 1000]) {
      expect(passed(`${final}HTTP/1.1 100 Continue\r\n\r\n`, step)).toBe(
        `${final}HTTP/1.1 100 Continue\r\n\r\n`,
      );
      const upgrade = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n';
      expect(passed(upgrade, step)).toBe(upgrade);
      expect(passed('garbage\r\n\r\n', step)).toBe('garbage\r\n\r\n');
      expect(passed('HTTP/1.1 1000 x\r\n\r\n', step)).toBe('HTTP/1.1 1000 x\r\n\r\n');
    }
  });

  it('touches nothing before a request went out, and only the start of each response', () => {
    const filter = new InterimFilter();
    const interim = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
    expect(filter.take(interim)).toBe(interim);
    filter.expectResponse();
    expect(filter.take(interim)).toBeNull();
    expect(filter.take(Buffer.from(final))?.toString()).toBe(final);
    expect(filter.take(interim)).toBe(interim);
  });
});
