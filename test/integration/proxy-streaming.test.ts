// The proxy passes bytes through as they come: SSE unbuffered, uploads streamed, client aborts
// propagated upstream; headers rewritten as a reverse proxy should.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, proxy } = useUpstreams();

describe('proxy streaming', () => {
  it('delivers a Server-Sent Event as soon as the instance writes it', async () => {
    let release: (() => void) | undefined;
    const port = await httpUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      release = () => res.end('data: last\n\n');
    });
    const { url } = await proxy([port]);
    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      http
        .get(`${url}/events`, { agent: false }, (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream');
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => events.push(chunk));
          res.on('end', resolve);
        })
        .on('error', reject);
    });
    // The first event arrives while the instance still holds the response open.
    expect(await waitFor(() => events.join('').includes('data: first'))).toBe(true);
    expect(events.join('')).not.toContain('last');
    release?.();
    await done;
    expect(events.join('')).toBe('data: first\n\ndata: last\n\n');
  });

  it('streams an upload: the instance sees bytes before the client has sent them all', async () => {
    let received = 0;
    const port = await httpUpstream((req, res) => {
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => res.end(String(received)));
    });
    const { url } = await proxy([port]);
    const chunk = Buffer.alloc(64 * 1024, 1);
    const reply = new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/upload`, { method: 'POST', agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.write(chunk);
      void waitFor(() => received > 0).then(() => {
        for (let i = 0; i < 63; i++) req.write(chunk);
        req.end();
      });
    });
    expect(await reply).toBe(String(64 * chunk.length));
  });

  it('aborts the upstream request when the client goes away', async () => {
    let upstreamClosed = false;
    let arrived = false;
    const port = await httpUpstream((req, res) => {
      arrived = true;
      res.writeHead(200);
      res.write('partial');
      req.socket.on('close', () => (upstreamClosed = true));
    });
    const { url, proxy: p } = await proxy([port]);
    const req = http.get(`${url}/hang`, { agent: false }, (res) => res.once('data', () => req.destroy()));
    req.on('error', () => {});
    expect(await waitFor(() => arrived && upstreamClosed)).toBe(true);
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
  });

  it('strips hop-by-hop headers, sets X-Forwarded-* and X-Request-Id, keeps Host', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const port = await httpUpstream((req, res) => {
      seen = req.headers;
      res.writeHead(200, { connection: 'close, x-hop', 'x-hop': '1', 'x-kept': 'yes' });
      res.end('ok');
    });
    const { url, port: front } = await proxy([port]);
    const reply = await request(`${url}/h`, {
      headers: { host: 'app.test', connection: 'x-private', 'x-private': 'secret', te: 'trailers' },
    });
    expect(reply.status).toBe(200);
    expect(seen.host).toBe('app.test');
    expect(seen['x-private']).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('app.test');
    expect(seen['x-forwarded-port']).toBe(String(front));
    expect(seen['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.headers['x-hop']).toBeUndefined();
    expect(reply.headers['x-kept']).toBe('yes');
    await request(`${url}/h`, { headers: { 'x-request-id': 'mine', 'x-forwarded-for': '10.1.2.3' } });
    expect(seen['x-request-id']).toBe('mine');
    // From a loopback peer (another proxy on this machine), the chain is kept and appended to.
    expect(seen['x-forwarded-for']).toBe('10.1.2.3, 127.0.0.1');
  });
});
