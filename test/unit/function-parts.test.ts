// The function runtime's pure parts: the payload 2.0 event (type-checked against @types/aws-lambda), the
// result mapping, billing arithmetic, the REPORT line and how a request body is read.
import { PassThrough } from 'node:stream';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { billedMs, CostMeter, gbSeconds, LAMBDA_PRICES } from '../../src/runtime/function/billing.js';
import { heapFlags } from '../../src/runtime/function/environment.js';
import { fromResult, isTextType, requestTime, toEvent } from '../../src/runtime/function/event.js';
import { regionVariables } from '../../src/runtime/function/handler-load.js';
import { MAX_REQUEST_BYTES, readWhole } from '../../src/runtime/function/in-process.js';
import { reportLine } from '../../src/runtime/function/report.js';

const request = (over: Partial<Parameters<typeof toEvent>[0]> = {}) => ({
  method: 'GET',
  url: '/a/b?x=1&x=2&y=%2F',
  httpVersion: '1.1',
  rawHeaders: [
    'Host',
    'api.localhost:8000',
    'Accept',
    'text/html',
    'accept',
    'application/json',
    'Cookie',
    'a=1; b=2',
    'Connection',
    'keep-alive',
    'X-Forwarded-For',
    '203.0.113.7, 127.0.0.1',
    'User-Agent',
    'curl/8',
  ],
  remoteAddress: '127.0.0.1',
  ...over,
});

describe('the payload 2.0 event', () => {
  it('is what API Gateway sends, and type-checks as @types/aws-lambda APIGatewayProxyEventV2', () => {
    const event: APIGatewayProxyEventV2 = toEvent(request(), Buffer.alloc(0), {
      requestId: 'r1',
      epochMs: Date.UTC(2020, 2, 12, 19, 3, 58),
      apiId: 'api',
    });
    expect(event).toEqual({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/a/b',
      rawQueryString: 'x=1&x=2&y=%2F',
      cookies: ['a=1', 'b=2'],
      headers: {
        host: 'api.localhost:8000',
        accept: 'text/html,application/json',
        'x-forwarded-for': '203.0.113.7, 127.0.0.1',
        'user-agent': 'curl/8',
      },
      queryStringParameters: { x: '1,2', y: '/' },
      requestContext: {
        accountId: 'anonymous',
        apiId: 'api',
        domainName: 'api.localhost:8000',
        domainPrefix: 'api',
        http: {
          method: 'GET',
          path: '/a/b',
          protocol: 'HTTP/1.1',
          sourceIp: '203.0.113.7',
          userAgent: 'curl/8',
        },
        requestId: 'r1',
        routeKey: '$default',
        stage: '$default',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: Date.UTC(2020, 2, 12, 19, 3, 58),
      },
      isBase64Encoded: false,
    });
    expect(requestTime(0)).toBe('01/Jan/1970:00:00:00 +0000');
  });

  it("takes names that Object's prototype has as names: constructor, __proto__, valueOf", () => {
    const ctx = { requestId: 'r', epochMs: 0, apiId: 'a' };
    const event = toEvent(
      request({
        url: '/p?constructor=x&__proto__=y&__proto__=z',
        rawHeaders: ['constructor', 'c', '__proto__', 'p'],
      }),
      Buffer.alloc(0),
      ctx,
    );
    expect(event.queryStringParameters).toEqual({ constructor: 'x', ['__proto__']: 'y,z' });
    expect(JSON.parse(JSON.stringify(event.queryStringParameters))).toEqual({
      constructor: 'x',
      ['__proto__']: 'y,z',
    });
    expect(Object.hasOwn(event.headers, '__proto__')).toBe(true);
    expect(event.headers).toMatchObject({ constructor: 'c', ['__proto__']: 'p' });
  });

  it('carries text bodies as text and anything else as base64', () => {
    const bytes = Buffer.from([0, 255, 1, 254]);
    const ctx = { requestId: 'r', epochMs: 0, apiId: 'a' };
    const binary = toEvent(request({ rawHeaders: ['Content-Type', 'image/png'] }), bytes, ctx);
    expect(binary).toMatchObject({ body: bytes.toString('base64'), isBase64Encoded: true });
    const text = toEvent(
      request({ rawHeaders: ['Content-Type', 'application/json; charset=utf-8'] }),
      Buffer.from('{"é":1}'),
      ctx,
    );
    expect(text).toMatchObject({ body: '{"é":1}', isBase64Encoded: false });
    expect(toEvent(request({ url: '/' }), Buffer.alloc(0), ctx)).not.toHaveProperty('queryStringParameters');
    expect(
      ['text/plain', 'application/vnd.api+json', 'application/x-www-form-urlencoded'].map(isTextType),
    ).toEqual([true, true, true]);
    expect(['image/png', 'application/octet-stream', undefined].map(isTextType)).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('maps a result back: a response object, a bare value, a malformed one', () => {
    const result: APIGatewayProxyStructuredResultV2 = {
      statusCode: 201,
      headers: { 'x-a': 1, 'content-type': 'text/plain' },
      cookies: ['s=1', 't=2'],
      body: Buffer.from('hi').toString('base64'),
      isBase64Encoded: true,
    };
    expect(fromResult(JSON.stringify(result))).toEqual({
      statusCode: 201,
      headers: ['x-a', '1', 'content-type', 'text/plain', 'set-cookie', 's=1', 'set-cookie', 't=2'],
      body: Buffer.from('hi'),
    });
    expect(fromResult('{"ok":true}')).toEqual({
      statusCode: 200,
      headers: ['content-type', 'application/json'],
      body: Buffer.from('{"ok":true}'),
    });
    expect(fromResult('"plain"').body.toString()).toBe('plain');
    expect(fromResult('null').body.toString()).toBe('null');
    expect(fromResult('{"statusCode":"two hundred"}').statusCode).toBe(502);
    // A 1xx is no final answer.
    expect(fromResult('{"statusCode":102,"body":"x"}').statusCode).toBe(502);
    expect(fromResult('not json').statusCode).toBe(502);
  });

  it('frames the answer itself, and answers 502 for a header that cannot be sent', () => {
    const own = fromResult(
      JSON.stringify({
        statusCode: 200,
        headers: { 'Content-Length': '99', 'transfer-encoding': 'chunked', connection: 'close', 'x-b': 'b' },
        body: 'four',
      }),
    );
    expect(own).toEqual({ statusCode: 200, headers: ['x-b', 'b'], body: Buffer.from('four') });
    // A value past U+00FF, a control character, a name that is not a token; a cookie with a newline.
    for (const bad of [
      { headers: { 'content-disposition': 'attachment; filename="报告.pdf"' } },
      { headers: { 'x-a': 'one\ntwo' } },
      { headers: { 'bad name': 'x' } },
      { cookies: ['a=1\r\nx-injected: 1'] },
    ]) {
      const answer = fromResult(JSON.stringify({ statusCode: 200, body: 'x', ...bad }));
      expect([JSON.stringify(bad), answer.statusCode]).toEqual([JSON.stringify(bad), 502]);
    }
    // A value the payload 2.0 response does not have is malformed, not "[object Object]" (numbers and
    // booleans are written out, as API Gateway does).
    for (const [bad, reason] of [
      [{ body: { a: 1 } }, 'body is an object, not a string (JSON.stringify it)'],
      [{ body: 42 }, 'body is a number, not a string (JSON.stringify it)'],
      [{ headers: { 'x-a': { a: 1 } } }, 'header "x-a" is an object, not a string'],
      [{ headers: { 'x-a': ['a', 'b'] } }, 'header "x-a" is an array, not a string'],
      [{ headers: ['x-a'] }, 'headers is an array, not an object'],
      [{ cookies: 'a=1' }, 'cookies is a string, not an array of strings'],
      [{ cookies: [{ a: 1 }] }, 'a cookie is an object, not a string'],
    ] as const) {
      const answer = fromResult(JSON.stringify({ statusCode: 200, ...bad }));
      expect([JSON.stringify(bad), answer.statusCode, answer.malformed]).toEqual([
        JSON.stringify(bad),
        502,
        reason,
      ]);
    }
    expect(
      fromResult(JSON.stringify({ statusCode: 200, headers: { 'x-n': 1, 'x-b': true }, body: null })),
    ).toEqual({ statusCode: 200, headers: ['x-n', '1', 'x-b', 'true'], body: Buffer.alloc(0) });
    // Latin-1 is a value Node sends as it is.
    expect(fromResult(JSON.stringify({ statusCode: 200, headers: { 'x-c': 'café' } })).statusCode).toBe(200);
  });
});

describe("the environment's region", () => {
  it("is the user's where set (either variable), else us-east-1", () => {
    expect(regionVariables({})).toEqual({ AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' });
    expect(regionVariables({ AWS_DEFAULT_REGION: 'eu-west-3' })).toEqual({
      AWS_REGION: 'eu-west-3',
      AWS_DEFAULT_REGION: 'eu-west-3',
    });
    expect(regionVariables({ AWS_REGION: 'ap-south-1' })).toEqual({
      AWS_REGION: 'ap-south-1',
      AWS_DEFAULT_REGION: 'ap-south-1',
    });
  });
});

describe('billing', () => {
  it('1,000,000 requests × 50 ms × 128 MB = 6,250 GB-s, and dollars at the list prices', () => {
    expect(gbSeconds(50 * 1_000_000, 128)).toBe(6250);
    const meter = new CostMeter();
    for (let i = 0; i < 1_000_000; i++) meter.add(billedMs(50), 128);
    const cost = meter.cost();
    expect(cost.gbSeconds).toBe(6250);
    expect(cost.requests).toBe(1_000_000);
    expect(cost.usd.requests).toBeCloseTo(0.2, 10);
    expect(cost.usd.duration).toBeCloseTo(6250 * LAMBDA_PRICES.usdPerGbSecond, 10);
    expect(cost.usd.duration).toBeCloseTo(0.10416688, 8);
    expect(cost.modelled).toBe(true);
  });

  it('rounds billed duration up to the millisecond, with the init of a cold start billed', () => {
    expect(billedMs(12.01)).toBe(13);
    expect(billedMs(12)).toBe(12);
    expect(billedMs(0.2)).toBe(1);
    expect(billedMs(1049.63, 1293.83)).toBe(2344);
  });
});

describe("an environment's V8 heap", () => {
  it("is sized from the memory size as Lambda's Node.js runtime does: a tenth young, the rest old", () => {
    expect(heapFlags(128)).toEqual(['--max-semi-space-size=6', '--max-old-space-size=116']);
    expect(heapFlags(1024)).toEqual(['--max-semi-space-size=51', '--max-old-space-size=922']);
    expect(heapFlags(10)).toEqual(['--max-semi-space-size=1', '--max-old-space-size=16']);
  });
});

describe('the REPORT line', () => {
  it('is written as Lambda writes it', () => {
    expect(
      reportLine({
        requestId: 'id',
        durationMs: 2.061,
        billedMs: 3,
        memoryMb: 128,
        maxMemoryMb: 66,
        initMs: 166.871,
      }),
    ).toBe(
      'REPORT RequestId: id\tDuration: 2.06 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 66 MB\tInit Duration: 166.87 ms\t',
    );
    expect(
      reportLine({
        requestId: 'id',
        durationMs: 3000,
        billedMs: 3000,
        memoryMb: 128,
        maxMemoryMb: null,
        status: { status: 'error', errorType: 'Runtime.OutOfMemory' },
      }),
    ).toBe(
      'REPORT RequestId: id\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\t',
    );
  });
});

describe('msup status', () => {
  it("sums up a function's environments, cold starts and cost in one line", async () => {
    const { functionSummary } = await import('../../src/cli/format-status.js');
    expect(functionSummary(undefined)).toBeNull();
    expect(
      functionSummary({
        environments: { warm: 2, busy: 1, idle: 1, starting: 0, reaped: 3 },
        coldStarts: 5,
        invocations: 40,
        throttles: 1,
        cost: { usd: { total: 0.0000123 }, gbSeconds: 0.5 },
      }),
    ).toBe(
      '2 warm (1 busy, 1 idle), 0 starting, 3 reaped; 5 cold starts, 40 invocations, 1 throttled; $0.0000123 modelled (0.500 GB-s)',
    );
  });

  it("names a sidecar's circuit breakers that are not quiet, one line per peer", async () => {
    const { breakerLines, formatStatus } = await import('../../src/cli/format-status.js');
    const now = Date.parse('2026-12-06T10:00:30.000Z');
    const member = {
      address: '127.0.0.1:22021',
      instance: 0,
      state: 'closed',
      consecutiveFailures: 0,
      since: null,
      until: null,
      ejectionsInRow: 0,
    };
    const open = {
      ...member,
      state: 'open',
      since: '2026-12-06T10:00:18.000Z',
      until: '2026-12-06T10:00:48.000Z',
      ejectionsInRow: 2,
    };
    const details = (members: object[], ejections = 3) => ({
      breakers: {
        api: {
          ejected: members.filter((m) => (m as { state: string }).state !== 'closed').length,
          ejections,
          members,
        },
      },
    });
    expect(breakerLines('web#0', undefined, now)).toEqual([]);
    expect(breakerLines('web#0', details([member, { ...member, instance: 1 }]), now)).toEqual([]);
    expect(
      breakerLines(
        'web#0',
        details([open, { ...member, instance: 1, consecutiveFailures: 1 }, { ...member, instance: null }]),
        now,
      ),
    ).toEqual([
      '  web#0 → api: api#0 open for 12s, half-open in 18s (2nd ejection in a row); api#1 closed, 1 failure in a row; 1 of 3 ejected, 3 ejections in all',
    ]);
    expect(
      breakerLines(
        'web#0',
        details([{ ...open, instance: null, state: 'half-open', until: '2026-12-06T10:00:20.000Z' }], 1),
        now,
      ),
    ).toEqual([
      '  web#0 → api: api at 127.0.0.1:22021 half-open (out for 12s; a trial request may go); 1 of 1 ejected, 1 ejection in all',
    ]);
    const status = {
      version: 1,
      project: '/p',
      configFile: null,
      sharedFront: null,
      dashboard: null,
      pid: 1,
      startedAt: '2026-12-06T10:00:00.000Z',
      ready: true,
      services: [
        {
          name: 'web',
          url: null,
          instances: [
            {
              index: 0,
              pid: 2,
              port: 3,
              state: 'running',
              ready: true,
              restarts: 0,
              uptimeMs: 1000,
              cpuPercent: null,
              memoryBytes: null,
              lastExit: null,
              details: details([open, member]),
            },
          ],
        },
      ],
    };
    expect(formatStatus(status as never, now)).toContain(
      '\ncircuit breakers:\n  web#0 → api: api#0 open for 12s, half-open in 18s (2nd ejection in a row); 1 of 2 ejected, 3 ejections in all\n',
    );
  });
});

describe('a request body read whole', () => {
  it('gives up as soon as it passes 6 MB, before it ends, and holds nothing of it', () => {
    const body = new PassThrough();
    const results: (Buffer | null)[] = [];
    readWhole(body, (whole) => results.push(whole));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    while (results.length === 0 && written <= 2 * MAX_REQUEST_BYTES) {
      body.write(chunk);
      written += chunk.length;
    }
    // Before, the body was read to its end first (one that never ended, for ever), its first 6 MB held.
    expect(results).toEqual([null]);
    expect(written).toBe(MAX_REQUEST_BYTES + chunk.length);
    // Nothing listens for its bytes any more (nothing keeps them), and it is not read on: the caller drains it.
    expect(body.listenerCount('data')).toBe(0);
    expect(body.isPaused()).toBe(true);
    body.end(chunk);
    expect(results).toEqual([null]);
  });

  it('reads a body up to 6 MB to its end', async () => {
    const body = new PassThrough();
    const whole = new Promise<Buffer | null>((resolve) => readWhole(body, resolve));
    body.write('a');
    body.end(Buffer.alloc(MAX_REQUEST_BYTES - 1, 'b'));
    expect((await whole)?.length).toBe(MAX_REQUEST_BYTES);
  });
});
