// The lean upstream client (requests without a body) over real sockets: malformed or ambiguous
// responses become 502, a response followed by extra bytes never leaks them into the next client's
// response, connections are reused only when the framing was exact, and chunked, HEAD and 204
// responses pass through; a slow client holds the instance back one piece at a time, and the
// instance's Keep-Alive timeout hint bounds how long an idle connection is reused.
import type net from 'node:net';
import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, tcpUpstream, proxy } = useUpstreams();

/**
 * An instance that reads request heads (no bodies) and hands each to its connection's handler, which
 * `connection(socket)` makes: the head, and `n`, the request's place on that connection (1, 2, ...).
 */
async function perRequest(connection: (socket: net.Socket) => (head: string, n: number) => void) {
  const seen = { connections: 0, requests: 0 };
  const port = await tcpUpstream((socket: net.Socket) => {
    seen.connections++;
    const answer = connection(socket);
    let n = 0;
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const head = buffered.slice(0, buffered.indexOf('\r\n\r\n'));
        buffered = buffered.slice(head.length + 4);
        seen.requests++;
        answer(head, ++n);
      }
    });
  });
  return { port, seen };
}

/** An instance that answers the n-th request on any connection with `answers[n]` (the last one after). */
function scripted(answers: string[]) {
  let next = 0;
  return perRequest((socket) => () => {
    socket.write(answers[Math.min(next++, answers.length - 1)] as string);
  });
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('lean upstream client', () => {
  it('answers 502 to ambiguous or malformed responses (CL+TE, repeated CL, obs-fold, bare CR/LF)', async () => {
    const bad = [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!',
      'HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok',
    ];
    for (const answer of bad) {
      const { port } = await scripted([answer]);
      const { url } = await proxy([port]);
      const reply = await request(url);
      expect({ answer, status: reply.status }).toEqual({ answer, status: 502 });
      expect(reply.body).toContain('invalid HTTP response');
    }
  });

  it('cuts the client connection at an invalid chunk size (the headers went out already)', async () => {
    const { port } = await scripted([
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\nsmuggled\r\n0\r\n\r\n',
    ]);
    const { url } = await proxy([port]);
    await expect(request(url)).rejects.toThrow(/aborted|hang up|ECONNRESET/);
  });

  it('never passes bytes that follow a response to the next request: that connection is closed', async () => {
    const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle';
    const { port, seen } = await scripted([
      `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst${smuggled}`,
      'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond',
    ]);
    const { url } = await proxy([port]);
    expect(await request(url)).toMatchObject({ status: 200, body: 'first' });
    expect(await request(url)).toMatchObject({ status: 200, body: 'second' });
    expect(seen).toEqual({ connections: 2, requests: 2 });
  });

  it('reuses a connection after an exactly framed response, and passes chunked, HEAD and 204 through', async () => {
    const connections = new Set<unknown>();
    const port = await httpUpstream((req, res) => {
      connections.add(req.socket);
      if (req.url === '/chunked') {
        res.write('a'.repeat(70_000));
        res.end('end');
      } else if (req.url === '/empty') res.writeHead(204).end();
      else res.writeHead(200, { 'content-length': 2 }).end(req.method === 'HEAD' ? undefined : 'ok');
    });
    const { url } = await proxy([port]);
    for (let i = 0; i < 3; i++) expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    const chunked = await request(`${url}/chunked`);
    expect(chunked.body).toBe(`${'a'.repeat(70_000)}end`);
    const head = await request(url, { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe('2');
    expect(await request(`${url}/empty`)).toMatchObject({ status: 204, body: '' });
    expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    // One connection, and a second after the HEAD: the connection that carried a HEAD is not reused.
    expect(connections.size).toBe(2);
  });

  it('does not reuse a connection after a HEAD: a body sent with its answer never becomes the next answer', async () => {
    // An instance that wrongly sends a body with its answer to a HEAD, late: on that connection, the next
    // request would read it as its own answer. Here the late body is itself a response.
    const { port, seen } = await perRequest((socket) => {
      let afterHead = false;
      return (head) => {
        if (afterHead) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged');
        afterHead = head.startsWith('HEAD ');
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n${afterHead ? '' : 'real'}`);
      };
    });
    const { url } = await proxy([port]);
    expect(await request(url, { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
    expect(await request(url)).toMatchObject({ status: 200, body: 'real' });
    expect(seen).toEqual({ connections: 2, requests: 2 });
  });

  it('retries a request whose reused connection the instance closed before answering, without counting it', async () => {
    // The instance answers the first request on each connection and closes the connection at the second
    // without a word: what an instance closing an idle connection just as msup reuses it looks like.
    const { port, seen } = await perRequest((socket) => (_head, n) => {
      if (n > 1) socket.destroy();
      else socket.write(OK);
    });
    // One instance, ejected at its first failure: a counted failure would show, and its retry would find
    // no other instance (the hold window, then 502).
    const { url, proxy: p } = await proxy([port], { maxFails: 1, holdTimeoutMs: 200 });
    expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    expect(seen).toEqual({ connections: 2, requests: 3 });
    // A POST without a body is not sent again (it may have been acted on): 502, still not counted.
    const post = await request(url, { method: 'POST' });
    expect(post.status).toBe(502);
    expect(post.body).toContain('connection closed before a response');
    expect(seen).toEqual({ connections: 2, requests: 4 });
    expect(p.stats()[0]).toMatchObject({ errors: 0, ejections: 0, ejected: false });
  });

  it("counts a reused connection's close that comes long after the request as the instance's failure", async () => {
    // The instance takes the second request on a connection and drops it 600 ms later (a worker killed
    // by a timeout of its own): that is no idle-close race, and it is not sent again for free.
    const { port } = await perRequest((socket) => (_head, n) => {
      if (n > 1) setTimeout(() => socket.destroy(), 600);
      else socket.write(OK);
    });
    const { url, proxy: p } = await proxy([port], { maxFails: 0, holdTimeoutMs: 200 });
    expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    expect((await request(url)).status).toBe(502);
    expect(p.stats()[0]).toMatchObject({ errors: 1 });
  });

  it('holds a response of tiny chunks back for a slow client: one drain wait at a time, body intact', async () => {
    // 1 MiB to fill the loopback buffers, then 40,000 one-byte chunks: every read from the instance
    // holds thousands of them, and the proxy must stop at the first the client cannot take yet.
    const tiny = Buffer.from(Array.from({ length: 40_000 }, (_, i) => 33 + ((i * 7) % 90)));
    const big = Buffer.alloc(1 << 20, 'b');
    let framed = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`;
    framed += `${big.toString('latin1')}\r\n`;
    for (const byte of tiny) framed += `1\r\n${String.fromCharCode(byte)}\r\n`;
    framed += '0\r\n\r\n';
    const port = await tcpUpstream((socket) => socket.once('data', () => socket.write(framed, 'latin1')));
    const { port: front } = await proxy([port]);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      // HTTP/1.0: the proxy answers without chunked framing and closes, so the raw bytes are the body.
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const client = netConnect(front, '127.0.0.1', () =>
          client.write('GET / HTTP/1.0\r\nHost: a\r\n\r\n'),
        );
        const chunks: Buffer[] = [];
        client.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          client.pause(); // a slow reader: the proxy's writes back up behind it
          setTimeout(() => client.resume(), 5);
        });
        client.on('end', () => resolve(Buffer.concat(chunks)));
        client.on('error', reject);
      });
      const body = reply.subarray(reply.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(big.length + tiny.length);
      expect(body.equals(Buffer.concat([big, tiny]))).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.message)).toEqual([]);
  }, 30_000);

  it("reuses an idle connection only within the instance's Keep-Alive timeout less 2 s, as undici", async () => {
    // timeout=2 leaves nothing after the margin: not reused even at once.
    const short = await scripted(['HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 2\r\n\r\nok']);
    const first = await proxy([short.port]);
    expect(await request(first.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(await request(first.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(short.seen).toEqual({ connections: 2, requests: 2 });
    // timeout=3: reused for 1 s (not msup's 4 s), so a request 1.5 s later opens a new connection.
    const longer = await scripted([
      'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3, max=100\r\nContent-Length: 2\r\n\r\nok',
    ]);
    const second = await proxy([longer.port]);
    expect(await request(second.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(await request(second.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(longer.seen).toEqual({ connections: 1, requests: 2 });
    await new Promise((r) => setTimeout(r, 1500)); // the idle time is what is under test
    expect(await request(second.url)).toMatchObject({ status: 200, body: 'ok' });
    expect(longer.seen).toEqual({ connections: 2, requests: 3 });
  });
});
