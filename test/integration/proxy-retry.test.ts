// The proxy alone, over real sockets: a dead member in rotation costs no request.
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, closedPort, proxy } = useUpstreams();
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
});
