// The front hands a handler function's requests to its gateway in msup's own process (no loopback hop):
// no connection to the gateway's port is made, and what the handler sees and what the client gets back
// are what the gateway's own server gives (bodies streamed or not, HEAD, 413, timeouts, a client that
// leaves).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { endlessUpload } from '../helpers/function.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { REPO, useProject } from '../helpers/project.js';

const fixtures = path.join(REPO, 'fixtures');

/** Established TCP connections (either end) on 127.0.0.1:`port`, from /proc/net/tcp. */
function connectionsTo(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const [, local, remote, state] = line.trim().split(/\s+/);
      return state === '01' && (local?.endsWith(hex) || remote?.endsWith(hex));
    }).length;
}

/** A POST whose body goes out in chunks (Transfer-Encoding: chunked), as a stream reaches the front. */
function postChunked(url: string, parts: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    for (const part of parts) req.write(part);
    req.end();
  });
}

/** The parts of an event that do not depend on how the request reached the gateway. */
const comparable = (event: Record<string, unknown>) => {
  const headers = { ...(event.headers as Record<string, string>) };
  for (const name of Object.keys(headers)) {
    if (name === 'host' || name.startsWith('x-forwarded-') || name === 'x-request-id' || name === 'forwarded')
      delete headers[name];
  }
  const http = (event.requestContext as { http: Record<string, unknown> }).http;
  return {
    rawPath: event.rawPath,
    rawQueryString: event.rawQueryString,
    queryStringParameters: event.queryStringParameters,
    cookies: event.cookies,
    body: event.body,
    isBase64Encoded: event.isBase64Encoded,
    method: http.method,
    headers,
  };
};

describe('a handler function behind the front', () => {
  const project = useProject();
  /** fixtures/fns/behave.js as a function with its own front. */
  const start = (timeout: string, maxInstances: number) => {
    const p = project();
    return p.start({
      config: p.config({
        fn: {
          handler: 'fns/behave.handler',
          cwd: fixtures,
          port: 0,
          runtime: { function: { timeout, maxInstances } },
        },
      }),
    });
  };

  it('gets its requests in process: the same events and answers as through its port, and no connection to it', {
    timeout: 60_000,
  }, async () => {
    const sup = await start('2s', 4);
    const front = sup.url('fn');
    const gateway = `http://127.0.0.1:${sup.instances('fn')[0]?.port}`;
    const headers = { cookie: 'k=v; z=1', 'x-dup': 'one', 'content-type': 'text/plain' };
    const ask = (base: string, path: string, options: Parameters<typeof request>[1] = {}) =>
      request(`${base}${path}`, { headers, ...options });

    const viaFront = {
      get: await ask(front, '/echo?a=1&a=2&b'),
      post: await ask(front, '/echo', { method: 'POST', body: 'a body with ünïcode' }),
      chunked: await postChunked(`${front}/echo`, ['first ', 'second ', 'third']),
      head: await ask(front, '/cookies', { method: 'HEAD' }),
      cookies: await ask(front, '/cookies'),
      thrown: await ask(front, '/throw'),
    };
    // Nothing went over loopback to the gateway: the front handed the requests over in process.
    expect(connectionsTo(Number(new URL(gateway).port))).toBe(0);

    const direct = {
      get: await ask(gateway, '/echo?a=1&a=2&b'),
      post: await ask(gateway, '/echo', { method: 'POST', body: 'a body with ünïcode' }),
      chunked: await postChunked(`${gateway}/echo`, ['first ', 'second ', 'third']),
      head: await ask(gateway, '/cookies', { method: 'HEAD' }),
      cookies: await ask(gateway, '/cookies'),
      thrown: await ask(gateway, '/throw'),
    };
    for (const kind of ['get', 'post', 'chunked'] as const) {
      expect(viaFront[kind].status).toBe(200);
      expect(comparable(JSON.parse(viaFront[kind].body))).toEqual(comparable(JSON.parse(direct[kind].body)));
    }
    const chunked = JSON.parse(viaFront.chunked.body) as { body: string; isBase64Encoded: boolean };
    expect(chunked.isBase64Encoded).toBe(true); // no content type: a binary body
    expect(Buffer.from(chunked.body, 'base64').toString()).toBe('first second third');
    expect(comparable(JSON.parse(viaFront.get.body))).toMatchObject({
      queryStringParameters: { a: '1,2', b: '' },
      cookies: ['k=v', 'z=1'],
      headers: { 'x-dup': 'one' },
    });
    expect(viaFront.head).toMatchObject({ status: 201, body: '' });
    expect(viaFront.head.headers['content-length']).toBe('11'); // 'cookies set', not sent
    expect(direct.head.headers['content-length']).toBe('11');
    expect(viaFront.cookies.status).toBe(201);
    expect(viaFront.cookies.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(viaFront.cookies.headers['x-answer']).toBe('42');
    expect(viaFront.cookies.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect([viaFront.thrown.status, viaFront.thrown.body]).toEqual([
      direct.thrown.status,
      direct.thrown.body,
    ]);
    expect(viaFront.thrown.status).toBe(502);
  });

  it('answers 413 past 6 MB, 504 at the timeout, and goes on after a client that left mid-invocation', {
    timeout: 60_000,
  }, async () => {
    const sup = await start('1s', 2);
    const front = sup.url('fn');
    const details = () => sup.instances('fn')[0]?.details as { invocations: number; timeouts: number };

    const big = await request(`${front}/echo`, { method: 'POST', body: 'x'.repeat(6 * 1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect(details().invocations).toBe(0);

    const timedOut = await request(`${front}/hang`);
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers['x-amzn-errortype']).toBe('Sandbox.Timedout');
    expect(details().timeouts).toBe(1);

    // A client that goes away while its invocation runs: the invocation finishes and is billed (as on
    // Lambda), and the front and the function go on serving.
    const gone = new AbortController();
    const leaving = fetch(`${front}/sleep?ms=300`, { signal: gone.signal }).catch((e: Error) => e.name);
    expect(await waitFor(() => details().invocations === 2, 10_000)).toBe(true);
    gone.abort();
    expect(await leaving).toBe('AbortError');
    const after = await request(`${front}/globals`);
    expect(after.status).toBe(200);
    expect(details().invocations).toBe(3);
  });

  it('answers 413 to a body that never ends once it passes 6 MB, while the client is still sending', {
    timeout: 60_000,
  }, async () => {
    const sup = await start('2s', 1);
    // Before, the body was read to its end first: one that never ended was read for ever, unanswered.
    const upload = await endlessUpload(sup.url('fn'), '/echo');
    expect(upload.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(upload.answer.endsWith('\r\n\r\n{"message":"Request Entity Too Large"}')).toBe(true);
    expect(upload.endedFirst).toBe(false);
    // The rest was read and dropped (the front's lingering close): the connection serves the next request.
    expect(upload.after).toMatch(/^HTTP\/1\.1 200 /);
    expect(sup.instances('fn')[0]?.details).toMatchObject({ invocations: 1 });
  });
});
