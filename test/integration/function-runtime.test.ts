// The function runtime's semantics on real execution environments (processes running msup's bootstrap and
// fixtures/fns/behave.js), with a manual clock for idle reaping, timeouts and the init cap.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/runtime/proc.js';
import {
  endlessUpload,
  expectNoBodies,
  type FunctionDetails,
  type FunctionUnderTest,
  useFunction,
} from '../helpers/function.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const json = async (r: Response) => JSON.parse(await r.text()) as Record<string, unknown>;

/**
 * The answer to a GET of `path`, moving the function's clock on by 100 ms at every poll until it comes
 * (the memory watch runs on the clock); it must come within 30 s.
 */
async function answerWhileTicking(fn: FunctionUnderTest, path: string): Promise<Response> {
  let reply: Response | undefined;
  void fetch(fn.url(path)).then((r) => {
    reply = r;
  });
  expect(
    await waitFor(() => {
      fn.clock.advance(100);
      return reply !== undefined;
    }, 30_000),
  ).toBe(true);
  return reply as Response;
}

describe('the function runtime', () => {
  const start = useFunction();

  it('starts cold, stays warm, is reaped when idle, and starts cold again', { timeout: 60_000 }, async () => {
    const fn = await start({});
    expect(fn.details().environments.warm).toBe(0); // scale from zero: nothing runs before a request
    const first = await json(await fetch(fn.url('/globals')));
    expect(first.calls).toBe(1);
    const second = await json(await fetch(fn.url('/globals')));
    expect(second).toEqual({ calls: 2, born: first.born }); // the same environment, its globals kept
    expect(fn.details()).toMatchObject({ coldStarts: 1, invocations: 2, environments: { warm: 1, idle: 1 } });
    const reports = fn.reports().filter((l) => l.startsWith('REPORT'));
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatch(
      /^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t$/,
    );
    expect(reports[1]).not.toContain('Init Duration');
    const pid = fn.details().list[0]?.pid as number;

    fn.clock.advance(59_999); // the default idleTimeout is 60 s
    expect(fn.details().environments).toMatchObject({ warm: 1, reaped: 0 });
    fn.clock.advance(1);
    await fn.until((d) => d.environments.reaped === 1 && d.environments.warm === 0);
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true);

    const third = await json(await fetch(fn.url('/globals')));
    expect(third.calls).toBe(1);
    expect(third.born).not.toBe(first.born);
    expect(fn.details().coldStarts).toBe(2);
  });

  it('connects on node:net where the TCP handles would print a warning (--pending-deprecation)', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({}, { NODE_OPTIONS: '--pending-deprecation' });
    const answer = await fetch(fn.url('/globals'));
    expect(answer.status).toBe(200);
    expect((await json(answer)).calls).toBe(1);
    // process.binding under --pending-deprecation prints DEP0111: the bootstrap must not have called it.
    expect(fn.lines.map((l) => l.line).filter((l) => /Deprecation|DEP0/.test(l))).toEqual([]);
    expect(fn.details()).toMatchObject({ coldStarts: 1, invocations: 1 });
  });

  it('gives two concurrent requests at concurrency 1 two environments that share no globals', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    const [a, b] = await Promise.all([fetch(fn.url('/sleep?ms=300')), fetch(fn.url('/sleep?ms=300'))]);
    const [ja, jb] = [await json(a), await json(b)];
    expect(ja.calls).toBe(1);
    expect(jb.calls).toBe(1);
    expect(ja.born).not.toBe(jb.born);
    expect(fn.details()).toMatchObject({ coldStarts: 2, environments: { warm: 2 } });
  });

  it('answers 429 past maxInstances, as Lambda throttles', { timeout: 60_000 }, async () => {
    const fn = await start({ runtime: { function: { maxInstances: 1 } } });
    const slow = fetch(fn.url('/sleep?ms=400'));
    await fn.until((d) => d.environments.starting + d.environments.busy === 1);
    const refused = await fetch(fn.url('/globals'));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-amzn-errortype')).toBe('TooManyRequestsException');
    expect(await refused.json()).toEqual({ message: 'Too Many Requests' });
    expect((await slow).status).toBe(200);
    expect(fn.details()).toMatchObject({ throttles: 1, environments: { warm: 1 } });
  });

  it('queues past maxInstances with the knative profile', { timeout: 60_000 }, async () => {
    const fn = await start({
      runtime: { function: { profile: 'knative', concurrency: 1, maxInstances: 1 } },
    });
    const answers = await Promise.all([fetch(fn.url('/sleep?ms=200')), fetch(fn.url('/sleep?ms=200'))]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    const bodies = await Promise.all(answers.map(json));
    expect(bodies.map((b) => b.calls).sort()).toEqual([1, 2]); // one environment, one request at a time
  });

  it('ends an environment at its timeout with 504, and the next request is cold', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    await fetch(fn.url('/globals'));
    const pid = fn.details().list[0]?.pid as number;
    const hung = fetch(fn.url('/hang'));
    await fn.until((d) => d.environments.busy === 1);
    fn.clock.advance(2999);
    expect(fn.details().environments.busy).toBe(1);
    fn.clock.advance(1); // the default timeout is 3 s
    const answer = await hung;
    expect(answer.status).toBe(504);
    expect(answer.headers.get('x-amzn-errortype')).toBe('Sandbox.Timedout');
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true);
    expect(fn.reports()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Task timed out after 3\.00 seconds$/),
        expect.stringMatching(
          /^REPORT .*Duration: 3000\.00 ms\tBilled Duration: 3000 ms\t.*Status: timeout\t$/,
        ),
      ]),
    );
    const next = await json(await fetch(fn.url('/globals')));
    expect(next.calls).toBe(1);
    expect(fn.details()).toMatchObject({ timeouts: 1, coldStarts: 2 });
  });

  it('with concurrency above 1, answers a timeout 504 and ends the environment only once its other requests are answered', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({ runtime: { function: { profile: 'knative', timeout: '2s' } } });
    const first = await json(await fetch(fn.url('/globals')));
    const pid = fn.details().list[0]?.pid as number;
    const inFlight = (d: FunctionDetails) => (d.list[0] as unknown as { inFlight: number }).inFlight;
    const hung = fetch(fn.url('/hang'));
    await fn.until((d) => inFlight(d) === 1);
    fn.clock.advance(1000);
    // Shares the environment (knative: no concurrency limit), 1 s of its 2 s timeout left on the clock.
    const sharing = fetch(fn.url('/sleep?ms=1500'));
    await fn.until((d) => inFlight(d) === 2);
    fn.clock.advance(1000);
    const timedOut = await hung;
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers.get('x-amzn-errortype')).toBe('Sandbox.Timedout');
    // Draining: a new request goes to another environment, started for it.
    const meanwhile = await json(await fetch(fn.url('/globals')));
    expect(meanwhile.calls).toBe(1);
    expect(meanwhile.born).not.toBe(first.born);
    const answer = await sharing;
    expect(answer.status).toBe(200);
    expect(await json(answer)).toMatchObject({ slept: 1500, born: first.born });
    // Ended once it had no request left.
    expect(await waitFor(() => !isAlive(pid), 5000)).toBe(true);
    await fn.until((d) => d.environments.ended === 1);
    expect(fn.details()).toMatchObject({ timeouts: 1, errors: 0, coldStarts: 2, environments: { warm: 1 } });
  });

  it('fails an init past the cap after one retry, with a clear message', { timeout: 60_000 }, async () => {
    const fn = await start({}, { INIT: 'hang' });
    const answer = fetch(fn.url('/globals'));
    await fn.until((d) => d.list[0]?.pid != null);
    const firstPid = fn.details().list[0]?.pid as number;
    fn.clock.advance(10_000); // Lambda's init cap
    await fn.until((d) => d.list[0]?.pid != null && d.list[0]?.pid !== firstPid);
    expect(await waitFor(() => !isAlive(firstPid), 5000)).toBe(true);
    const secondPid = fn.details().list[0]?.pid as number;
    fn.clock.advance(10_000);
    const reply = await answer;
    expect(reply.status).toBe(502);
    expect(reply.headers.get('x-amzn-errortype')).toBe('Runtime.InitTimeout');
    expect(fn.reports()).toEqual(
      expect.arrayContaining([
        "INIT failed (attempt 1 of 2): Runtime.InitTimeout: the environment's init did not finish within 10000ms",
        "Runtime.InitTimeout: the environment's init did not finish within 10000ms (tried twice)",
      ]),
    );
    expect(fn.reports().filter((l) => l.includes('(tried twice)'))).toHaveLength(1);
    expect(await waitFor(() => !isAlive(secondPid), 5000)).toBe(true);
    expect(fn.details()).toMatchObject({ initFailures: 1, environments: { warm: 0, starting: 0 } });
  });

  it('names an init error by its message, not the posted body with its trace', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({}, { INIT: 'throw' });
    const reply = await fetch(fn.url('/globals'));
    expect(reply.status).toBe(502);
    expect(reply.headers.get('x-amzn-errortype')).toBe('Error');
    const lines = fn.reports().filter((l) => l.includes('init failed on purpose'));
    expect(lines).toEqual([
      'INIT failed (attempt 1 of 2): Error: init failed on purpose',
      'INIT failed (attempt 2 of 2): Error: init failed on purpose',
      'Error: the environment could not start: init failed on purpose (tried twice)',
    ]);
  });

  it("answers 502 for a thrown error, logs it in Lambda's shape, and keeps the environment", {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    const thrown = await fetch(fn.url('/throw'));
    expect(thrown.status).toBe(502);
    expect(await thrown.json()).toEqual({ message: 'Internal Server Error' });
    expect(thrown.headers.get('x-amzn-errortype')).toBe('TypeError');
    const logged = fn.lines.find((l) => l.stream === 'stderr' && l.line.includes('Invoke Error'));
    const shape = JSON.parse(logged?.line.split('\t').at(-1) ?? '{}');
    expect(shape).toMatchObject({ errorType: 'TypeError', errorMessage: 'thrown on purpose' });
    expect(shape.trace[0]).toBe('TypeError: thrown on purpose');
    expect((await json(await fetch(fn.url('/globals')))).calls).toBe(2);
    expect(fn.details()).toMatchObject({ errors: 1, coldStarts: 1 });
  });

  it('ends an environment over its memory size with 502 Runtime.OutOfMemory', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({ memory: 128 });
    const reply = await answerWhileTicking(fn, '/oom');
    expect(reply.status).toBe(502);
    expect(reply.headers.get('x-amzn-errortype')).toBe('Runtime.OutOfMemory');
    expect(fn.details()).toMatchObject({ outOfMemory: 1 });
    expect(fn.reports().some((l) => l.includes('Error Type: Runtime.OutOfMemory'))).toBe(true);
  });

  it('gives an HTTP service’s REPORT line its Max Memory Used before the memory watch read it', {
    timeout: 60_000,
  }, async () => {
    // The clock does not move: the memory watch never runs, and the peak is read when the line is made.
    const fn = await start({ handler: undefined, command: ['node', 'echo-server.js'] });
    expect((await fetch(fn.url('/'))).status).toBe(200);
    await fn.until(() => fn.reports().some((l) => l.startsWith('REPORT')));
    expect(fn.reports().find((l) => l.startsWith('REPORT'))).toMatch(/\tMax Memory Used: [1-9]\d* MB\t/);
  });

  it('reads an HTTP service’s environment as its process group: a child over the memory size ends it', {
    timeout: 60_000,
  }, async () => {
    // The service itself stays small; its child (same process group) fills about 320 MB. The GET is not
    // sent to another environment (as on Lambda, running out of memory is its error); a long timeout, as
    // the clock ticks here five times as fast as real time.
    const fn = await start({
      handler: undefined,
      command: ['node', 'grows-in-child.js'],
      memory: 128,
      runtime: { function: { timeout: '60s' } },
    });
    const reply = await answerWhileTicking(fn, '/grow');
    expect(reply.status).toBe(502);
    expect(reply.headers.get('x-amzn-errortype')).toBe('Runtime.OutOfMemory');
    expect(fn.details()).toMatchObject({ outOfMemory: 1, coldStarts: 1 });
  });

  it('passes a binary body through base64 and back unchanged', { timeout: 60_000 }, async () => {
    const fn = await start({});
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const reply = await fetch(fn.url('/binary'), {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'image/png' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await reply.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('hands the handler a payload 2.0 event and maps its response back', { timeout: 60_000 }, async () => {
    const fn = await start({});
    const echo = await json(
      await fetch(fn.url('/echo?a=1&a=2&b=x%20y'), {
        method: 'POST',
        body: '{"hello":1}',
        headers: { 'content-type': 'application/json', cookie: 'c1=v1; c2=v2', 'X-Twice': 'one' },
      }),
    );
    expect(echo).toMatchObject({
      version: '2.0',
      rawPath: '/echo',
      rawQueryString: 'a=1&a=2&b=x%20y',
      queryStringParameters: { a: '1,2', b: 'x y' },
      cookies: ['c1=v1', 'c2=v2'],
      body: '{"hello":1}',
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: '/echo', protocol: 'HTTP/1.1' }, stage: '$default' },
    });
    expect((echo.headers as Record<string, string>)['x-twice']).toBe('one');
    expect(echo.headers).not.toHaveProperty('cookie');
    const cookies = await fetch(fn.url('/cookies'));
    expect(cookies.status).toBe(201);
    expect(cookies.headers.get('x-answer')).toBe('42');
    expect(cookies.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(await (await fetch(fn.url('/callback'))).text()).toBe('through the callback');
    const contextReply = await fetch(fn.url('/context'));
    // The HTTP API's request id header, and the REST API's kept.
    expect(contextReply.headers.get('apigw-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(contextReply.headers.get('x-amzn-requestid')).toBe(contextReply.headers.get('apigw-requestid'));
    const context = await json(contextReply);
    expect(context).toMatchObject({ functionName: 'fn', memoryLimitInMB: '128' });
    // The environment is given the token its bootstrap proves itself with, which the handler does not see.
    expect(await json(await fetch(fn.url('/token')))).toEqual({
      runtimeToken: null,
      givenToken: process.platform === 'linux' ? true : null,
    });
    // An AWS SDK client needs a region: Lambda's variables, us-east-1 unless the user's env has one.
    expect([context.region, context.defaultRegion]).toEqual(
      process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION
        ? [expect.any(String), expect.any(String)]
        : ['us-east-1', 'us-east-1'],
    );
    expect(context.remaining).toBeGreaterThan(0);
  });

  it('fails the invocation with an unhandled rejection or an uncaught exception, then ends the environment', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    for (const [p, errorType, logged] of [
      ['/unhandled', 'Runtime.UnhandledPromiseRejection', 'ERROR\tUnhandled Promise Rejection'],
      ['/uncaught', 'RangeError', 'ERROR\tUncaught Exception'],
    ] as const) {
      const ended = fn.details().environments.ended;
      const reply = await fetch(fn.url(p));
      expect(reply.status).toBe(502);
      // Its own error, posted before the environment exits (not Runtime.ExitError).
      expect(reply.headers.get('x-amzn-errortype')).toBe(errorType);
      expect(fn.lines.some((l) => l.stream === 'stderr' && l.line.includes(logged))).toBe(true);
      await fn.until((d) => d.environments.ended === ended + 1 && d.environments.warm === 0);
    }
    // The next request starts a new environment.
    expect((await json(await fetch(fn.url('/globals')))).calls).toBe(1);
    expect(fn.details().coldStarts).toBe(3);
  });

  it('gives an environment that crashed no other request, even one already waiting for it', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({ runtime: { function: { maxInstances: 1, overflow: 'queue' } } });
    const crashing = fetch(fn.url('/unhandled?ms=300'));
    await fn.until((d) => d.environments.busy === 1);
    // Waits for the only environment allowed; it was handed the crashing one on its way out (502 ExitError).
    const waiting = fetch(fn.url('/globals'));
    expect((await crashing).status).toBe(502);
    const next = await waiting;
    expect(next.status).toBe(200);
    expect((await json(next)).calls).toBe(1);
    expect(fn.details().coldStarts).toBe(2);
  });

  it('gives a request that an environment exiting after its answer never took to another environment', {
    timeout: 120_000,
  }, async () => {
    const fn = await start({});
    const statuses: Record<number, number> = {};
    const n = 60;
    for (let i = 0; i < n; i++) {
      const reply = await fetch(fn.url('/exit-after'));
      await reply.text();
      statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
    }
    // Before, a request handed to the environment after its answer failed with it (502 Runtime.ExitError)
    // though its runtime never asked for it: a few in every few hundred.
    expect(statuses).toEqual({ 200: n });
    // Each on an environment of its own: the one it first went to had ended. Not counted twice.
    expect(fn.details()).toMatchObject({ coldStarts: n, invocations: n });
  });

  it('answers 413 when the event is over 6 MB, as a binary body of 4.8 MB is in base64', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    const reply = await request(fn.url('/binary'), {
      method: 'POST',
      body: 'x'.repeat(4_800_000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(reply.status).toBe(413);
    expect(fn.details().invocations).toBe(0); // answered before an environment was asked for
  });

  it("answers 413 on the gateway's port to a body that never ends once it passes 6 MB, while it is still sent", {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    // Before, the body was read to its end first: one that never ended was read for ever, unanswered.
    const upload = await endlessUpload(fn.url(''), '/echo');
    expect(upload.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(upload.answer.endsWith('\r\n\r\n{"message":"Request Entity Too Large"}')).toBe(true);
    expect(upload.endedFirst).toBe(false);
    // The rest was read and dropped, within bounds: the connection serves the next request.
    expect(upload.after).toMatch(/^HTTP\/1\.1 200 /);
    expect(fn.details().invocations).toBe(1);
  });

  it('sends no body (nor Content-Length) for a 204, and no body for a HEAD request', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    await expectNoBodies(fn.url(''));
  });

  it('answers 502 for a header a handler returns that cannot be sent, frames answers itself, and goes on', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({});
    const bad = await fetch(fn.url('/bad-header'));
    expect(bad.status).toBe(502);
    // A body that is an object was "[object Object]" with a 200: malformed, with the reason logged.
    const objectBody = await fetch(fn.url('/object-body'));
    expect(objectBody.status).toBe(502);
    const requestId = objectBody.headers.get('x-amzn-requestid');
    expect(fn.reports()).toContain(
      `${requestId} Malformed Lambda proxy response (answered 502): body is an object, not a string (JSON.stringify it)`,
    );
    // The handler's own Content-Length (2, for a body of 4) is not sent beside the gateway's.
    const own = await fetch(fn.url('/own-length'));
    expect(own.headers.get('content-length')).toBe('4');
    expect(await own.text()).toBe('four');
    // The same environment served all four, released after each; a REPORT line for each.
    expect((await json(await fetch(fn.url('/globals')))).calls).toBe(4);
    expect(fn.details()).toMatchObject({ coldStarts: 1, environments: { busy: 0, idle: 1 } });
    expect(fn.reports().filter((l) => l.startsWith('REPORT'))).toHaveLength(4);
  });

  it('lets a client leave an HTTP service early without blaming the environment: no timeout, kept warm', {
    timeout: 60_000,
  }, async () => {
    // It listens 1 s after its start: the first client leaves while it starts.
    const fn = await start(
      { handler: undefined, command: ['node', 'echo-server.js'], health: { http: '/health' } },
      { LISTEN_AFTER_MS: '1000' },
    );
    const leave = async (path: string, when: (d: ReturnType<typeof fn.details>) => boolean) => {
      const req = http.get(fn.url(path));
      req.on('error', () => {});
      await fn.until(when);
      req.destroy();
      await fn.until((d) => d.environments.busy === 0 && d.environments.starting === 0);
    };
    // Left while its environment started: the request is not passed on.
    await leave('/hello', (d) => d.environments.starting === 1);
    const pid = fn.details().list[0]?.pid;
    // Left while the environment worked on it (5 s): cut, and the environment free again.
    await leave('/slow?ms=5000', (d) => d.environments.busy === 1);
    expect(fn.details()).toMatchObject({ timeouts: 0, errors: 0, coldStarts: 1, environments: { idle: 1 } });
    expect(fn.details().list[0]?.pid).toBe(pid);
    expect((await fetch(fn.url('/hello'))).status).toBe(200);
    expect(fn.details().coldStarts).toBe(1);
  });

  it('gives a request that an HTTP environment on its way out refused to another environment, whatever its method', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({
      handler: undefined,
      command: ['node', 'echo-server.js'],
      health: { http: '/health' },
    });
    for (const method of ['GET', 'POST']) {
      // The environment stops listening, answers, and lingers 2 s: the next request's connect is refused.
      expect((await request(fn.url('/exit-after?ms=2000'))).status).toBe(200);
      const reply = await request(fn.url('/hello'), { method, body: method === 'POST' ? 'sent once' : '' });
      // Before, it failed with the environment (502 Runtime.ExitError) though it never reached it.
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ method, body: method === 'POST' ? 'sent once' : '' });
    }
    // Each refused request went to a new environment, and counts once.
    expect(fn.details()).toMatchObject({ coldStarts: 3, invocations: 4, errors: 0 });
  });

  it('sends a request an HTTP environment cut again only when its method is idempotent', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-destroy-once-'));
    try {
      const fn = await start({
        handler: undefined,
        command: ['node', 'echo-server.js'],
        health: { http: '/health' },
      });
      // The first environment cuts the connection after reading the request; another one answers.
      const get = await request(fn.url(`/destroy-once?flag=${path.join(dir, 'get')}`));
      expect(get.status).toBe(200);
      // A POST may have run: it is not sent again.
      const post = await request(fn.url(`/destroy-once?flag=${path.join(dir, 'post')}`), {
        method: 'POST',
        body: 'at most once',
      });
      expect(post.status).toBe(502);
      expect(fn.details()).toMatchObject({ coldStarts: 2, invocations: 3, errors: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends a GET that every environment cuts to one other environment only, not to three', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({
      handler: undefined,
      command: ['node', 'echo-server.js'],
      health: { http: '/health' },
    });
    const cut = await request(fn.url('/destroy'));
    expect(cut.status).toBe(502);
    // The first environment and the one it was sent to again: two cold starts, two errors.
    expect(fn.details()).toMatchObject({ coldStarts: 2, invocations: 2, errors: 2 });
  });

  it('gives a GET sent to another environment what is left of its one timeout, and bills both attempts', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-cut-once-'));
    try {
      const fn = await start({
        handler: undefined,
        command: ['node', 'echo-server.js'],
        health: { http: '/health' },
      });
      const flag = path.join(dir, 'flag');
      const answer = request(fn.url(`/cut-once?flag=${flag}`));
      await fn.until((d) => d.environments.busy === 1);
      // The first environment cuts it 2 s into its 3 s; the second holds it unanswered.
      fn.clock.advance(2000);
      writeFileSync(`${flag}.cut`, '');
      await fn.until((d) => d.coldStarts === 2 && d.errors === 1 && d.environments.busy === 1);
      fn.clock.advance(999);
      expect(fn.details().timeouts).toBe(0);
      // Before, the second environment had a timeout of its own: 3 s more, 5 s in all.
      fn.clock.advance(1);
      await fn.until((d) => d.timeouts === 1, 5000);
      expect((await answer).status).toBe(504);
      // Both attempts ran: the REPORT's Duration is the 2 s in the first and the 1 s in the second.
      expect(fn.reports()).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/Task timed out after 3\.00 seconds$/),
          expect.stringMatching(
            /^REPORT .*Duration: 3000\.00 ms\tBilled Duration: 3\d{3} ms\t.*Status: timeout\t$/,
          ),
        ]),
      );
      expect(fn.reports().filter((l) => l.startsWith('REPORT'))).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bills a GET sent to another environment for the time it ran in the first one too', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msup-cut-once-'));
    try {
      const fn = await start({
        handler: undefined,
        command: ['node', 'echo-server.js'],
        health: { http: '/health' },
      });
      const flag = path.join(dir, 'flag');
      const answer = request(fn.url(`/cut-once?flag=${flag}&answer=1`));
      await fn.until((d) => d.environments.busy === 1);
      fn.clock.advance(1500);
      writeFileSync(`${flag}.cut`, '');
      expect((await answer).status).toBe(200);
      // Before, the REPORT said 0 ms: the second environment's time only.
      const reports = fn.reports().filter((l) => l.startsWith('REPORT'));
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatch(/\tDuration: 1500\.00 ms\tBilled Duration: 1500 ms\t/);
      expect(fn.details()).toMatchObject({ coldStarts: 2, errors: 1, timeouts: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs an HTTP service as the function: each environment serves on its own port', {
    timeout: 60_000,
  }, async () => {
    const fn = await start({
      handler: undefined,
      command: ['node', 'echo-server.js'],
      health: { http: '/health' },
    });
    const reply = await json(await fetch(fn.url('/hello?x=1')));
    expect(reply).toMatchObject({ service: 'fn', method: 'GET', path: '/hello?x=1' });
    expect(fn.details()).toMatchObject({ coldStarts: 1, environments: { warm: 1 } });
    expect(fn.reports().filter((l) => l.startsWith('REPORT'))).toHaveLength(1);
  });
});
