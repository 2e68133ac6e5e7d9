// The proxy alone, over real sockets: a dead member in rotation costs no request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, closedPort, proxy } = useUpstreams();
const NO_BUDGET = { percent: 0, minConcurrent: 0 };
const answer = (text: string) => httpUpstream((_req, res) => res.end(text));

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
});
