// The proxy alone, over real sockets: a dead member in rotation costs no request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { REPLAY_LIMIT } from '../../src/proxy/lazy-body.js';
import { request, requestWith } from '../helpers/http.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, closedPort, proxy } = useUpstreams();
const NO_BUDGET = { percent: 0, minConcurrent: 0 };
/** Instances behind msup's sidecars (whose not-forwarded answers the front believes), none ejected. */
const SIDECARS = { maxFails: 0, sidecars: true };
const answer = (text: string) => httpUpstream((_req, res) => res.end(text));

/** Reads a request's body, then `then` answers. */
function readBody(req: http.IncomingMessage, then: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => then(Buffer.concat(chunks)));
}

/** An instance that echoes the body it got. */
const echo = (got: Buffer[]) =>
  httpUpstream((req, res) =>
    readBody(req, (body) => {
      got.push(body);
      res.end(body);
    }),
  );

/**
 * A stand-in for a sidecar whose app refused the connection: it reads the whole body (as a sidecar does
 * before it answers so), then says the request was not forwarded.
 */
const notForwarding = (got: Buffer[]) =>
  httpUpstream((req, res) =>
    readBody(req, (body) => {
      got.push(body);
      res.writeHead(503, { 'x-msup-not-forwarded': '1', connection: 'close' });
      res.end('msup sidecar: the app did not take the connection\n');
    }),
  );

describe('ServiceProxy retries', () => {
  it('sends a request whose connect was refused to the next instance', async () => {
    const { url } = await proxy([await closedPort(), await answer('live')]);
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await request(`${url}/`, { method: i % 2 ? 'POST' : 'GET' });
      expect(reply.status).toBe(200);
      bodies.push(reply.body);
    }
    expect(bodies).toEqual(Array(6).fill('live'));
  });

  it('answers 502 when every instance refused, and 503 with none', async () => {
    const { proxy: front, url } = await proxy([], { holdTimeoutMs: 200 });
    expect((await request(`${url}/`)).status).toBe(503);
    front.add('dead', 'web#0', { host: '127.0.0.1', port: await closedPort() });
    const reply = await request(`${url}/`);
    expect(reply.status).toBe(502);
    expect(reply.body).toContain('no instance of web could take the request');
  });

  it('answers 431 to oversized headers and keeps serving', async () => {
    const { url } = await proxy([await answer('ok')]);
    const big = await request(`${url}/`, { headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(big.status).toBe(431);
    expect((await request(`${url}/`)).body).toBe('ok');
  });

  it('charges the retry budget for a reset from an instance that is alive, not from one that died', async () => {
    // Alive: resets the connection and keeps listening (an overloaded instance, as far as msup can tell).
    const alive = await httpUpstream((req) => req.socket.destroy());
    const { url } = await proxy([alive, await answer('second')], { retryBudget: NO_BUDGET });
    const replies = [await request(`${url}/`), await request(`${url}/`)];
    expect(replies.map((r) => r.status).sort()).toEqual([200, 502]);
    expect(replies.find((r) => r.status === 502)?.body).toContain('(retry budget spent)');

    // Dying: its port stops taking connections as it resets the request (a process that exited).
    const dying = http.createServer((req) => {
      dying.close();
      req.socket.destroy();
    });
    await new Promise<void>((resolve) => dying.listen(0, '127.0.0.1', resolve));
    try {
      const port = (dying.address() as AddressInfo).port;
      const { url: other } = await proxy([port, await answer('second')], { retryBudget: NO_BUDGET });
      for (let i = 0; i < 2; i++) {
        expect(await request(`${other}/`)).toMatchObject({ status: 200, body: 'second' });
      }
    } finally {
      dying.close();
      dying.closeAllConnections();
    }
  });

  it('gives back a retry slot when the retry ends without an attempt (every instance tried)', async () => {
    const alive = await httpUpstream((req) => req.socket.destroy());
    const { url } = await proxy([alive], {
      retryBudget: { percent: 0, minConcurrent: 1 },
      holdTimeoutMs: 100,
    });
    for (let i = 0; i < 3; i++) {
      const reply = await request(`${url}/`);
      expect(reply.status).toBe(502);
      expect(reply.body).toContain('no instance of web could take the request');
    }
  });

  it("sends a POST its first instance's sidecar did not forward to the next one, body and all", async () => {
    const refused: Buffer[] = [];
    const answered: Buffer[] = [];
    const { url } = await proxy([await notForwarding(refused), await echo(answered)], SIDECARS);
    const bodies = ['a', 'b', 'c', 'd'].map((c, i) => Buffer.alloc(1000 * (i + 1) * 16, c).toString());
    for (const body of bodies) {
      const reply = await request(`${url}/`, { method: 'POST', body });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe(body);
      expect(reply.headers['x-msup-not-forwarded']).toBeUndefined();
    }
    // Round robin sent every other request to the first instance first: it read those bodies in full,
    // and the second instance got every body once, byte for byte.
    expect(refused.map((b) => b.toString())).toEqual([bodies[0], bodies[2]]);
    expect(answered.map((b) => b.toString())).toEqual(bodies);
  });

  it('replays the part of a chunked body read before the refusal, then the rest from the client', async () => {
    const answered: Buffer[] = [];
    let refusedOnce: () => void = () => {};
    const refusal = new Promise<void>((resolve) => {
      refusedOnce = resolve;
    });
    // Answers at the first bytes, before the body ends: the rest is still on its way from the client.
    const early = await httpUpstream((req, res) => {
      req.once('data', () => {
        res.writeHead(503, { 'x-msup-not-forwarded': '1', connection: 'close' });
        res.end();
        refusedOnce();
      });
    });
    const { url } = await proxy([early, await echo(answered)], { sidecars: true });
    const reply = await requestWith(`${url}/`, { method: 'POST' }, (req) => {
      req.setHeader('transfer-encoding', 'chunked');
      req.write('sent before the refusal;');
      void refusal.then(() => req.end('sent after it'));
    });
    expect(reply).toMatchObject({ status: 200, body: 'sent before the refusal;sent after it' });
    expect(answered.map((b) => b.toString())).toEqual(['sent before the refusal;sent after it']);
  });

  it('does not send a POST body past the replay limit again: 502, as before', async () => {
    const refused: Buffer[] = [];
    const answered: Buffer[] = [];
    const { url } = await proxy([await notForwarding(refused), await echo(answered)], SIDECARS);
    const body = Buffer.alloc(REPLAY_LIMIT + 1000, 'z').toString();
    const replies = [
      await request(`${url}/`, { method: 'POST', body }),
      await request(`${url}/`, { method: 'POST', body }),
    ];
    // One went to the first instance, which read all of it: 502, not sent on; the other to the second.
    expect(replies.map((r) => r.status).sort()).toEqual([200, 502]);
    const failed = replies.find((r) => r.status === 502);
    expect(failed?.body).toContain('its sidecar could not reach the app');
    expect(failed?.headers['x-msup-not-forwarded']).toBeUndefined();
    expect(replies.find((r) => r.status === 200)?.body).toBe(body);
    expect(refused.map((b) => b.length)).toEqual([body.length]);
    expect(answered.map((b) => b.length)).toEqual([body.length]);
  });

  it("passes on an app's own 503 with the not-forwarded header when its instances have no sidecars", async () => {
    // Only msup's sidecar may say a request never reached the app: believed from anyone, an app (or what
    // it proxies) could make the front send a POST that was executed to another instance as well.
    const first: Buffer[] = [];
    const second: Buffer[] = [];
    const { url } = await proxy([await notForwarding(first), await echo(second)], { maxFails: 0 });
    const replies = [];
    for (const body of ['a', 'b']) replies.push(await request(`${url}/`, { method: 'POST', body }));
    const refused = replies.find((r) => r.status === 503);
    expect(refused?.body).toBe('msup sidecar: the app did not take the connection\n');
    expect(refused?.headers['x-msup-not-forwarded']).toBe('1');
    expect(replies.find((r) => r.status === 200)?.body).toBeDefined();
    // Each body reached exactly one instance: nothing was sent twice.
    expect([...first, ...second].map((b) => b.toString()).sort()).toEqual(['a', 'b']);
  });

  it('sends a GET and a bodiless POST that were not forwarded to the next instance', async () => {
    const { url } = await proxy([await notForwarding([]), await answer('live')], SIDECARS);
    for (const method of ['GET', 'POST', 'GET', 'POST']) {
      const reply = await request(`${url}/`, { method });
      expect(reply).toMatchObject({ status: 200, body: 'live' });
      expect(reply.headers['x-msup-not-forwarded']).toBeUndefined();
    }
  });
});
