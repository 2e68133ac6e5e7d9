// HTTP details at the fronts: a second Host, too many headers, `Connection: host`, upgrades other than
// WebSocket, CONNECT, and a 408 that closes the connection whether or not the client does.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrontProxy } from '../../src/proxy/front.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { openFds, raw, useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, tcpUpstream, closedPort, proxy } = useUpstreams();

/** An instance that answers with the request's method, path and headers as JSON; counts what it got. */
async function echo() {
  const seen: { method: string; url: string; headers: Record<string, unknown> }[] = [];
  const port = await httpUpstream((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  return { port, seen };
}

const headersOf = (count: number) => Array.from({ length: count }, (_, i) => `x-h${i}: ${i}\r\n`).join('');

describe('HTTP details at the front', () => {
  it('answers 400 to a second Host header, and the instance never sees it', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    const twice = 'GET /a HTTP/1.1\r\nHost: one.test\r\nHost: two.test\r\nConnection: close\r\n\r\n';
    expect(await raw(port, twice)).toMatch(/^HTTP\/1\.1 400 [\s\S]*more than one Host header/);
    const upgrade =
      'GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    expect(await raw(port, upgrade)).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.seen).toEqual([]);
  });

  it('answers 501 to a transfer coding other than chunked, and the instance never sees it', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    // Node takes the chunked framing off and the header is hop-by-hop: the instance got gzip bytes as if plain.
    const gzipped =
      'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    expect(await raw(port, gzipped)).toMatch(/^HTTP\/1\.1 501 [\s\S]*"gzip" is not supported/);
    expect(upstream.seen).toEqual([]);
    const chunked =
      'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    expect(await raw(port, chunked)).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.seen.map((r) => r.url)).toEqual(['/b']);
  });

  it('answers 431 past 1000 headers instead of dropping the rest', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    // 998 + Host + Connection = 1000 headers: passed on, every one of them.
    const fits = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headersOf(998)}\r\n`);
    expect(fits).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.seen[0]?.headers['x-h997']).toBe('997');
    const past = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headersOf(1500)}\r\n`);
    expect(past).toMatch(/^HTTP\/1\.1 431 /);
    expect(upstream.seen).toHaveLength(1);
  });

  it("routes and forwards an absolute-form request by its target's host, not by Host (RFC 9112 §3.2.2)", async () => {
    const good = await echo();
    const other = await echo();
    const services = {
      good: (await proxy([good.port])).proxy,
      other: (await proxy([other.port])).proxy,
    };
    const front = new FrontProxy(
      [
        { host: 'good.test', service: 'good' },
        { host: 'other.test', service: 'other' },
      ],
      (service) => services[service as keyof typeof services],
    );
    const port = await front.listen(0);
    try {
      const absolute =
        'GET http://Other.test:8080/p?q=1 HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n';
      expect(await raw(port, absolute)).toMatch(/^HTTP\/1\.1 200 /);
      expect(good.seen).toEqual([]);
      expect(other.seen[0]).toMatchObject({
        url: '/p?q=1',
        headers: { host: 'other.test:8080', 'x-forwarded-host': 'other.test:8080' },
      });
      // Origin-form: Host as before.
      expect(await raw(port, 'GET /o HTTP/1.1\r\nHost: good.test\r\nConnection: close\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 200 /,
      );
      expect(good.seen[0]).toMatchObject({ url: '/o', headers: { host: 'good.test' } });
    } finally {
      await front.close();
    }
  });

  it('keeps Host when Connection names it', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    const reply = await raw(port, 'GET / HTTP/1.1\r\nHost: site.test\r\nConnection: host, close\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.seen[0]?.headers.host).toBe('site.test');
  });

  it('answers an h2c upgrade over HTTP/1.1 (the Upgrade ignored), 501 with a body, 400 to CONNECT', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    const h2c =
      'GET /page HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
    // raw() resolves when msup closes the connection: it does, after the response.
    const reply = await raw(port, h2c);
    expect(reply).toMatch(/^HTTP\/1\.1 200 [\s\S]*"url":"\/page"/);
    expect(reply).toMatch(/\r\nconnection: close\r\n/i);
    expect(upstream.seen[0]?.headers.upgrade).toBeUndefined();
    expect(upstream.seen[0]?.headers['http2-settings']).toBeUndefined();
    const withBody =
      'POST /p HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello';
    expect(await raw(port, withBody)).toMatch(/^HTTP\/1\.1 501 /);
    expect(await raw(port, 'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    expect(upstream.seen).toHaveLength(1);
  });

  it('answers an upgrade pipelined behind another request after that request, and stays up', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port]);
    const pipelined =
      'GET /first HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /second HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
    const reply = await raw(port, pipelined);
    expect(reply).toMatch(
      /^HTTP\/1\.1 200 [\s\S]*"url":"\/first"[\s\S]*HTTP\/1\.1 200 [\s\S]*"url":"\/second"/,
    );
    const websocket = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    // A WebSocket upgrade behind a request: the echo instance refuses it (no WebSocket there), after /one.
    const second = await raw(port, `GET /one HTTP/1.1\r\nHost: x\r\n\r\n${websocket}`);
    expect(second).toMatch(/^HTTP\/1\.1 200 [\s\S]*"url":"\/one"[\s\S]*HTTP\/1\.1 /);
    expect(await raw(port, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 200 /,
    );
  });

  it('sends a WebSocket upgrade behind an answered request elsewhere when its instance refuses the connect', async () => {
    const upstream = await echo();
    // Round robin: /one goes to the echo instance, the upgrade to the closed port, then to the echo
    // instance, which answers it as a plain request (no WebSocket there).
    const { port, proxy: p } = await proxy([upstream.port, await closedPort()]);
    const websocket = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const reply = await raw(port, `GET /one HTTP/1.1\r\nHost: x\r\n\r\n${websocket}`);
    expect(reply).toMatch(/^HTTP\/1\.1 200 [\s\S]*"url":"\/one"[\s\S]*HTTP\/1\.1 200 [\s\S]*"url":"\/ws"/);
    expect(p.stats()[1]?.errors).toBe(1);
  });

  it('answers 502 to a WebSocket upgrade behind an answered request when no instance takes its connect', async () => {
    const upstream = await echo();
    const { port, proxy: p } = await proxy([upstream.port, await closedPort()], { holdTimeoutMs: 200 });
    const websocket = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    // The echo instance leaves rotation once it has answered /one: the upgrade finds only the closed port.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let got = '';
      socket.on('data', (d) => {
        const first = !got.includes('"url":"/one"');
        got += d;
        if (first && got.includes('"url":"/one"')) {
          p.remove(`web#0:${upstream.port}`);
          socket.write(websocket);
        }
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(reply).toMatch(
      /^HTTP\/1\.1 200 [\s\S]*"url":"\/one"[\s\S]*HTTP\/1\.1 502 [\s\S]*no instance of web could take the upgrade/,
    );
    expect(p.stats()[1]?.errors).toBe(1);
  });

  it('cuts a connection whose request body turns malformed after the answer began, writing nothing into it', async () => {
    const port = await httpUpstream((req, res) => {
      req.on('error', () => {});
      req.resume();
      // Answers at once, while the body still comes.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started\n');
    });
    const { port: front } = await proxy([port]);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(front, '127.0.0.1', () =>
        socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'),
      );
      let got = '';
      socket.on('data', (d) => {
        const first = !got.includes('started');
        got += d;
        // The answer has begun: now an invalid chunk size.
        if (first && got.includes('started')) socket.write('zz\r\n');
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.setTimeout(10_000, () => socket.destroy());
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 [\s\S]*started/);
    expect(text).not.toMatch(/HTTP\/1\.1 400/);
  });

  it('passes on an answer whose reason phrase is not ASCII, with a body or without', async () => {
    const port = await httpUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusMessage = 'Cr\u00e9\u00e9';
        res.writeHead(201);
        res.end('made');
      });
    });
    const { url } = await proxy([port]);
    // With a body: undici's path (it decodes the reason as UTF-8); without: the lean client's.
    expect(await request(url, { method: 'POST', body: 'x' })).toMatchObject({ status: 201, body: 'made' });
    expect(await request(url)).toMatchObject({ status: 201, body: 'made' });
  });

  it("passes on an h2c request's large answer to a client that reads it late", async () => {
    const size = 32 * 1024 * 1024;
    const port = await httpUpstream((_req, res) => res.end(Buffer.alloc(size, 97)));
    const { port: front } = await proxy([port]);
    const socket = net.connect(front, '127.0.0.1');
    socket.pause();
    socket.write(
      'GET /big HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    // Not read for a moment: msup's writes fill the socket's buffers and wait for their 'drain'.
    await new Promise((r) => setTimeout(r, 300));
    let received = 0;
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d: Buffer) => {
      received += d.length;
    });
    socket.resume();
    expect(await waitFor(() => received > size, 20_000)).toBe(true);
    await ended;
  });

  it('closes a connection it answered 408 even when the client keeps its side open', async () => {
    const upstream = await echo();
    const { port } = await proxy([upstream.port], { headersTimeoutMs: 300 });
    const baseline = openFds();
    const clients = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<{ socket: net.Socket; answer: Promise<string> }>((resolve) => {
            const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
              socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
              let text = '';
              const answer = new Promise<string>((done) => {
                socket.on('data', (d) => (text += d));
                socket.on('end', () => done(text));
              });
              resolve({ socket, answer });
            });
          }),
      ),
    );
    try {
      for (const { answer } of clients) expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
      // The clients' own 20 sockets are still open; msup's side of each is closed.
      expect(await waitFor(() => openFds() <= baseline + 20, 5000)).toBe(true);
    } finally {
      for (const { socket } of clients) socket.destroy();
    }
  });

  it('says why in words in every answer it writes itself, with the status nginx gives', async () => {
    /** The body of an answer msup wrote: a sentence, not a bare code (`web#0 failed: ECONNRESET`). */
    const bodyOf = (reply: string) => {
      const body = reply.slice(reply.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '');
      expect(body).toMatch(/[a-z]+ [a-z]+/);
      expect(body).not.toMatch(/(^|: )[A-Z][A-Z0-9_]+\n/);
      return body;
    };
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    // Not valid HTTP, headers too large: Node's parser refuses them; the answer says what it was.
    const front = (await proxy([await closedPort()], { holdTimeoutMs: 200 })).port;
    expect(bodyOf(await raw(front, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'))).toMatch(
      /^the request is not valid HTTP \(.*HPE_INVALID_HEADER_TOKEN\)\n$/,
    );
    const big = await raw(front, `GET / HTTP/1.1\r\nHost: x\r\nX: ${'y'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(bodyOf(big)).toBe('the request headers are too large\n');
    // Every instance refused the connect: 502, and which failed how, the code after the words.
    const refused = await raw(front, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(refused).toMatch(/^HTTP\/1\.1 502 /);
    expect(bodyOf(refused)).toBe(
      'no instance of web could take the request; the last one, web#0, failed: connection refused (ECONNREFUSED)\n',
    );
    // An instance that resets an upgrade it took, before its answer.
    const resets = await tcpUpstream((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const reset = await raw((await proxy([resets])).port, upgrade);
    expect(reset).toMatch(/^HTTP\/1\.1 502 /);
    expect(bodyOf(reset)).toBe('web#0 failed: connection reset (ECONNRESET)\n');
    // No answer within responseTimeout: 504 as nginx's proxy_read_timeout, not 502.
    const silent = await httpUpstream(() => {});
    const slow = (await proxy([silent], { responseTimeoutMs: 200, holdTimeoutMs: 200 })).port;
    const post = await raw(
      slow,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    );
    expect(post).toMatch(/^HTTP\/1\.1 504 /);
    expect(bodyOf(post)).toBe('web#0 failed: no response within responseTimeout\n');
    const get = await raw(slow, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(get).toMatch(/^HTTP\/1\.1 504 /);
    expect(bodyOf(get)).toMatch(
      /^no instance of web could take the request; .*no response within responseTimeout\n$/,
    );
    // The shared front: an upgrade with no route gets the 404 a request gets, routes listed.
    const shared = new FrontProxy([{ path: '/api', service: 'web', stripPrefix: false }], () => undefined);
    const sharedPort = await shared.listen(0);
    try {
      const noRoute = await raw(sharedPort, upgrade);
      expect(noRoute).toMatch(/^HTTP\/1\.1 404 /);
      expect(bodyOf(noRoute)).toMatch(/^no route for x\/ws\nroutes:\n {2}\*\/api -> web\n/);
    } finally {
      await shared.close();
    }
  });
});
