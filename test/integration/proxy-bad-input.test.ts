// Bad input gets a clear status, the proxy stays up, and its sockets and file descriptors return to
// where they were.
import { describe, expect, it } from 'vitest';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { openFds, raw, useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, tcpUpstream, proxy } = useUpstreams();

describe('proxy bad input', () => {
  it('answers 400, 431, 408 and 502, keeps serving, and returns to its baseline of fds', async () => {
    // Connection: close, so no pooled upstream connection stays open after the test's requests.
    const good = await httpUpstream((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
    const garbage = await tcpUpstream((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
    const { url, port } = await proxy([good], { headersTimeoutMs: 300 });
    const broken = await proxy([garbage]);
    const baseline = openFds();

    for (let round = 0; round < 3; round++) {
      expect(await raw(port, 'THIS IS NOT HTTP\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      expect(await raw(port, 'GET /\0 HTTP/1.1\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
      const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
      expect(await raw(port, big)).toMatch(/^HTTP\/1\.1 431 /);
      // Headers that never finish: 408 after headersTimeout.
      expect(await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', 10_000)).toMatch(
        /^HTTP\/1\.1 408 /,
      );
      const bad = await request(broken.url);
      expect(bad.status).toBe(502);
      expect(bad.body).toContain('invalid HTTP response');
      expect(await request(url)).toMatchObject({ status: 200, body: 'ok' });
    }
    expect(await waitFor(() => openFds() <= baseline, 10_000)).toBe(true);
  });

  it('says in the body of its own 400, 408 and 431 what was wrong with the request', async () => {
    const upstream = await httpUpstream((_req, res) => res.end('ok'));
    const { port } = await proxy([upstream], { headersTimeoutMs: 300 });
    /** The answer's status and body. */
    const answer = async (input: string) => {
      const reply = await raw(port, input, 10_000);
      return `${reply.slice(9, 12)} ${reply.slice(reply.indexOf('\r\n\r\n') + 4)}`;
    };
    expect(await answer('THIS IS NOT HTTP\r\n\r\n')).toMatch(
      /^400 the request is not valid HTTP \(.*method.*\)\n$/i,
    );
    expect(
      await answer('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'),
    ).toMatch(/^400 the request is not valid HTTP \(.*Content-Length.*\)\n$/i);
    expect(
      await answer('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'),
    ).toMatch(/^400 the request is not valid HTTP \(.*Transfer-Encoding.*\)\n$/i);
    // Answered like the front's other refusals (replyText): chunked, and the words in the one chunk.
    expect(await answer('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toMatch(
      /^400 \w+\r\nno Host header \(HTTP\/1\.1 requires one\)\n/,
    );
    expect(await answer(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toBe(
      '431 the request headers are too large\n',
    );
    expect(await answer('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n')).toBe(
      '408 the request headers did not arrive within proxy.headersTimeout\n',
    );
  });

  it('forwards an absolute-form request target as its path, and answers 400 to one it cannot forward', async () => {
    let seen = '';
    const port = await httpUpstream((req, res) => {
      seen = req.url ?? '';
      res.end('ok');
    });
    const front = await proxy([port]);
    const absolute =
      'GET http://example.test/x?y=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n';
    expect(await raw(front.port, absolute)).toMatch(/^HTTP\/1\.1 200 /);
    expect(seen).toBe('/x?y=1');
    const star = 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    expect(await raw(front.port, star)).toMatch(/^HTTP\/1\.1 400 /);
  });
});
