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
