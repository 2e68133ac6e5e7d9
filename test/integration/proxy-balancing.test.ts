// The balancer over real sockets: strategies, weights, retries as nginx does them, passive ejection,
// the hold window, drains and the per-instance counters.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FrontProxy } from '../../src/proxy/front.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { raw, useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, wsUpstream, tcpUpstream, closedPort, proxy } = useUpstreams();

const named = (name: string) =>
  httpUpstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => res.end(body ? `${name}:${body}` : name));
  });

/** An instance that drops every request without an answer (a reset after the request was sent). */
const dropper = () => httpUpstream((req) => req.socket.destroy());

describe('balancing strategies', () => {
  it('shares requests by weight with smooth weighted round robin', async () => {
    const { url } = await proxy([await named('a'), await named('b')], { weights: [3, 1] });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) seen.push((await request(url, { agent })).body);
    agent.destroy();
    expect(seen.filter((s) => s === 'a')).toHaveLength(30);
    expect(seen.slice(0, 4).sort()).toEqual(['a', 'a', 'a', 'b']);
  });

  it('least-request sends new requests away from a busy instance', async () => {
    const waiting: http.ServerResponse[] = [];
    const slow = await httpUpstream((_req, res) => waiting.push(res));
    const { url } = await proxy([slow, await named('fast')], { strategy: 'least-request' });
    const held = [request(url), request(url)]; // at least one lands on the slow one
    await waitFor(() => waiting.length > 0);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push((await request(url)).body);
    expect(seen).toEqual(Array(10).fill('fast'));
    for (const res of waiting) res.end('slow');
    await Promise.all(held);
  });
});

describe('retries', () => {
  it('replays a POST body on the next instance when the connect was refused', async () => {
    const { url, proxy: p } = await proxy([await closedPort(), await named('live')], { maxFails: 0 });
    for (let i = 0; i < 4; i++) {
      const reply = await request(url, { method: 'POST', body: `n=${i}` });
      expect(reply).toMatchObject({ status: 200, body: `live:n=${i}` });
    }
    expect(p.stats()[0]).toMatchObject({ errors: 2, requests: 2 });
    expect(p.stats()[1]).toMatchObject({ retries: 2, requests: 4 });
  });

  it('retries a GET reset after sending, but not a POST', async () => {
    const { url } = await proxy([await dropper(), await named('live')], { maxFails: 0 });
    const gets = [await request(url), await request(url)];
    expect(gets.map((r) => r.status)).toEqual([200, 200]);
    const posts = [await request(url, { method: 'POST' }), await request(url, { method: 'POST' })];
    expect(posts.map((r) => r.status).sort()).toEqual([200, 502]);
    expect(posts.find((r) => r.status === 502)?.body).toMatch(/web#0 failed/);
  });

  it('retries a GET whose response did not start within responseTimeout, but not a POST (504, as nginx)', async () => {
    const silent = await httpUpstream(() => {}); // takes requests, never answers
    const { url } = await proxy([silent, await named('live')], { maxFails: 0, responseTimeoutMs: 200 });
    expect(await request(url)).toMatchObject({ status: 200, body: 'live' });
    const posts = [await request(url, { method: 'POST' }), await request(url, { method: 'POST' })];
    expect(posts.map((r) => r.status).sort()).toEqual([200, 504]);
    expect(posts.find((r) => r.status === 504)?.body).toBe(
      'web#0 failed: no response within responseTimeout\n',
    );
  });

  it('stops retrying when the retry budget is spent', async () => {
    const { url } = await proxy([await dropper(), await dropper()], {
      maxFails: 0,
      holdTimeoutMs: 50,
      retryBudget: { percent: 0, minConcurrent: 0 },
    });
    const reply = await request(url);
    expect(reply.status).toBe(502);
    expect(reply.body).toContain('retry budget spent');
  });

  it('answers 502 when the instance answers garbage, and keeps serving', async () => {
    const { tcpUpstream } = useUpstreamsForGarbage;
    const garbage = await tcpUpstream((socket) => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    const { url } = await proxy([garbage]);
    const reply = await request(url);
    expect(reply.status).toBe(502);
    expect(reply.body).toContain('web#0 failed: invalid HTTP response');
  });
});

const useUpstreamsForGarbage = useUpstreams();

describe('passive ejection', () => {
  it('takes a failing instance out after maxFails, counts it, and never ejects the last one', async () => {
    const { url, proxy: p } = await proxy([await dropper(), await named('b'), await named('c')], {
      maxFails: 1,
      failTimeoutMs: 60_000,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await request(url)).status);
    expect(statuses).toEqual(Array(9).fill(200));
    expect(p.stats()[0]).toMatchObject({ requests: 1, errors: 1, ejections: 1, ejected: true });
    expect(p.stats()[1]!.retries + p.stats()[2]!.retries).toBe(1);
    const alone = await proxy([await dropper()], { maxFails: 1, holdTimeoutMs: 50 });
    await request(alone.url);
    expect(alone.proxy.stats()[0]).toMatchObject({ errors: 1, ejections: 0, ejected: false });
  });
});

describe('tcp mode', () => {
  it('moves a connection to the next instance when the connect is refused, and ejects the dead one', async () => {
    const { tcpUpstream } = useUpstreamsForGarbage;
    const live = await tcpUpstream((socket) => socket.end('hello\n'));
    const { port, proxy: p } = await proxy([await closedPort(), live], { mode: 'tcp' });
    for (let i = 0; i < 3; i++) expect(await raw(port, '')).toBe('hello\n');
    expect(p.stats()).toMatchObject({
      0: { requests: 1, errors: 1, ejections: 1 },
      1: { requests: 3, retries: 1 },
    });
    expect(await waitFor(() => p.stats()[1]?.inFlight === 0)).toBe(true);
  });

  it('counts an open connection as in flight, and a drain that times out closes it', async () => {
    const { tcpUpstream } = useUpstreamsForGarbage;
    const live = await tcpUpstream((socket) => socket.write('hello\n'));
    const { port, proxy: p } = await proxy([live], { mode: 'tcp' });
    const closed = raw(port, 'stay\n');
    expect(await waitFor(() => p.stats()[0]?.inFlight === 1)).toBe(true);
    p.remove(`web#0:${live}`);
    await p.drain(`web#0:${live}`, 50);
    expect(await closed).toBe('hello\n');
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
  });
});

describe('a WebSocket through the front', () => {
  it('gets 504 from an instance that never answers its upgrade within responseTimeout, which is taken out', async () => {
    // Takes the connection, reads the upgrade, and says nothing.
    const hung = await tcpUpstream(() => {});
    const { port, proxy: p } = await proxy([hung, await wsUpstream('b')], { responseTimeoutMs: 500 });
    const upgrade =
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    // Round robin: the first goes to the silent instance.
    expect(await raw(port, upgrade)).toMatch(/^HTTP\/1\.1 504 /);
    expect(p.stats()[0]?.ejected).toBe(true);
    // The next goes to the other one.
    expect(await raw(port, upgrade, 2000)).toMatch(/^HTTP\/1\.1 101 /);
  });

  it('sends an upgrade whose connect is refused to another instance; 502 with words when none takes it', async () => {
    // web#0 is not listening (its process just died): nothing was sent to it, so the upgrade goes on.
    const dead = await closedPort();
    const live = await wsUpstream('b');
    const { port, proxy: p } = await proxy([dead, live], { holdTimeoutMs: 200 });
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    const answer = new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hi'));
      socket.on('message', (d) => resolve(String(d)));
      socket.on('error', reject);
    });
    expect(await answer).toBe('b: hi');
    socket.close();
    expect(p.stats()[0]).toMatchObject({ requests: 1, errors: 1 });
    expect(p.stats()[1]).toMatchObject({ requests: 1, retries: 1, errors: 0 });
    // No instance can take it: an HTTP answer that says so, not a closed connection.
    p.remove(`web#1:${live}`);
    const upgrade =
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    expect(await raw(port, upgrade)).toMatch(
      /^HTTP\/1\.1 502 [\s\S]*\r\n\r\nno instance of web could take the upgrade; the last one, web#0, failed: connection refused \(ECONNREFUSED\)\n$/,
    );
  });

  it('is only cut when its instance resets it once open: no HTTP status in the stream, no failure counted', async () => {
    const { port, proxy: p } = await proxy([await wsUpstream('a'), await wsUpstream('b')]);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    const errors: string[] = [];
    socket.on('error', (error) => errors.push(error.message));
    const code = new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
    const answer = new Promise<string>((resolve) => socket.once('message', (d) => resolve(String(d))));
    socket.on('open', () => socket.send('hi'));
    expect(await answer).toMatch(/^[ab]: hi$/);
    socket.send('reset');
    // 1006: the connection ended without a close frame; an HTTP 502 written into the stream was read as a
    // malformed frame (1002).
    expect(await code).toBe(1006);
    expect(errors).toEqual([]);
    const stats = Object.values(p.stats());
    expect(stats.map((s) => s.ejected)).toEqual([false, false]);
    expect(stats.reduce((n, s) => n + s.errors, 0)).toBe(0);
  });
});

describe('a shared front that retires (moved by a config reload)', () => {
  it('stops listening, and cuts a WebSocket still open when the grace time is up', async () => {
    const { proxy: p } = await proxy([await wsUpstream('web')]);
    const front = new FrontProxy([{ path: '/', service: 'web', stripPrefix: false }], () => p);
    const port = await front.listen(0);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    const closed = new Promise((resolve) => socket.on('close', resolve));
    const answer = new Promise<string>((resolve) => socket.on('message', (d) => resolve(String(d))));
    socket.on('open', () => socket.send('hi'));
    expect(await answer).toBe('web: hi');
    await front.retire(100);
    await closed;
    const refused = await request(`http://127.0.0.1:${port}/`).catch((e: NodeJS.ErrnoException) => e.code);
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('hold window and drain', () => {
  it('holds a request while no instance is ready and sends it to the first that joins', async () => {
    const { url, proxy: p } = await proxy([], { holdTimeoutMs: 10_000 });
    const pending = request(url);
    const port = await named('late');
    setTimeout(() => p.add('late', 'web#0', { host: '127.0.0.1', port: port }), 100);
    expect(await pending).toMatchObject({ status: 200, body: 'late' });
  });

  it('holds a WebSocket upgrade the same way, then pipes it to the instance that joined', async () => {
    const { url, proxy: p } = await proxy([], { holdTimeoutMs: 10_000 });
    const socket = new WebSocket(url.replace('http', 'ws'));
    const port = await wsUpstream('late');
    setTimeout(() => p.add('late', 'web#0', { host: '127.0.0.1', port: port }), 100);
    const answer = await new Promise<string>((resolve, reject) => {
      socket.on('open', () => socket.send('hi'));
      socket.on('message', (data) => resolve(String(data)));
      socket.on('error', reject);
    });
    expect(answer).toBe('late: hi');
    expect(p.stats()[0]?.inFlight).toBe(1);
    socket.close();
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
  });

  it('answers 503 with Retry-After once the hold window has passed', async () => {
    const { url } = await proxy([], { holdTimeoutMs: 100 });
    const reply = await request(url);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
  });

  it('drain waits for in-flight requests, and cuts what is left at the timeout', async () => {
    const waiting: http.ServerResponse[] = [];
    const port = await httpUpstream((_req, res) => waiting.push(res));
    const { url, proxy: p } = await proxy([port]);
    const first = request(url);
    await waitFor(() => waiting.length === 1);
    p.remove(`web#0:${port}`);
    let drained = false;
    const draining = p.drain(`web#0:${port}`, 30_000).then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    waiting[0]!.end('done');
    expect(await first).toMatchObject({ status: 200, body: 'done' });
    await draining;
    // Back in rotation, a request that never finishes is cut when the drain times out.
    p.add(`web#0:${port}`, 'web#0', { host: '127.0.0.1', port: port });
    const second = request(url).catch((error: Error) => error);
    await waitFor(() => waiting.length === 2);
    p.remove(`web#0:${port}`);
    await p.drain(`web#0:${port}`, 50);
    expect(await second).toBeInstanceOf(Error);
    expect(p.stats()[0]?.inFlight).toBe(0);
  });
});
