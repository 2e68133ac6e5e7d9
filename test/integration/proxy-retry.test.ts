// The proxy alone, over real sockets: a dead member in rotation costs no request.
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceProxy } from '../../src/proxy/server.js';
import { request } from '../helpers/http.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function upstream(name: string): Promise<number> {
  const server = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('ServiceProxy retries', () => {
  it('sends a request whose connect was refused to the next instance', async () => {
    const proxy = new ServiceProxy('web');
    closers.push(() => proxy.close());
    const front = await proxy.listen(0);
    proxy.add('dead', 'web#0', await closedPort());
    proxy.add('live', 'web#1', await upstream('live'));
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await request(`http://127.0.0.1:${front}/`, { method: i % 2 ? 'POST' : 'GET' });
      expect(reply.status).toBe(200);
      bodies.push(reply.body);
    }
    expect(bodies).toEqual(Array(6).fill('live'));
  });

  it('answers 502 when every instance refused, and 503 with none', async () => {
    const proxy = new ServiceProxy('web', { holdTimeoutMs: 200 });
    closers.push(() => proxy.close());
    const front = await proxy.listen(0);
    expect((await request(`http://127.0.0.1:${front}/`)).status).toBe(503);
    proxy.add('dead', 'web#0', await closedPort());
    const reply = await request(`http://127.0.0.1:${front}/`);
    expect(reply.status).toBe(502);
    expect(reply.body).toContain('no instance of web could take the request');
  });

  it('answers 431 to oversized headers and keeps serving', async () => {
    const proxy = new ServiceProxy('web');
    closers.push(() => proxy.close());
    const front = await proxy.listen(0);
    proxy.add('live', 'web#0', await upstream('ok'));
    const big = await request(`http://127.0.0.1:${front}/`, { headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(big.status).toBe(431);
    expect((await request(`http://127.0.0.1:${front}/`)).body).toBe('ok');
  });
});
