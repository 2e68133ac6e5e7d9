// What an instance answers to a request with a body (undici's path) and without one (msup's lean client):
// a 204 or 304 with a Content-Length is complete, transfer codings other than chunked are refused (502),
// and a response undici cannot take is an invalid response on either path, not retried.
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { raw, useUpstreams } from '../helpers/upstreams.js';

const { tcpUpstream, proxy } = useUpstreams();

/**
 * An instance that reads each request (head, and a body of its Content-Length) and answers with
 * `answer(path)`; counts the requests it got.
 */
async function answering(answer: (path: string) => string) {
  const seen = { requests: 0 };
  const port = await tcpUpstream((socket: net.Socket) => {
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        seen.requests++;
        socket.write(answer(head.split(' ')[1] ?? '/'));
      }
    });
  });
  return { port, seen };
}

const post = (path: string) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

describe('responses to requests with and without a body', () => {
  it('passes on a 204 or 304 that carries a Content-Length, and the instance is not blamed', async () => {
    const instance = await answering((path) =>
      path === '/204'
        ? 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'
        : 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5\r\n\r\n',
    );
    const { port, proxy: p } = await proxy([instance.port]);
    for (const request of [post('/204'), post('/304'), get('/204'), get('/304')]) {
      expect(await raw(port, request)).toMatch(/^HTTP\/1\.1 (204|304) /);
    }
    expect(p.stats()[0]?.errors).toBe(0);
  });

  it('answers 502 to a transfer coding other than chunked, on either path', async () => {
    const codings: Record<string, string> = {
      '/gzip-chunked': 'Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      '/gzip': 'Transfer-Encoding: gzip\r\n\r\nok',
      '/twice': 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    };
    const instance = await answering(
      (path) => `HTTP/1.1 200 OK\r\n${codings[path] ?? 'Content-Length: 2\r\n\r\nok'}`,
    );
    const { port } = await proxy([instance.port]);
    for (const path of Object.keys(codings)) {
      for (const request of [get(path), post(path)]) {
        const reply = await raw(port, request);
        expect(reply).toMatch(/^HTTP\/1\.1 502 [\s\S]*web#0 failed: invalid HTTP response/);
      }
    }
    expect(await raw(port, get('/plain'))).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok$/);
    expect(await raw(port, post('/plain'))).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nok$/);
  });

  it('calls a response undici cannot take an invalid response, and sends no PUT to a second instance', async () => {
    const answers: Record<string, string> = {
      // A 101 to a request without Upgrade, with and without Connection: upgrade.
      '/101': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n',
      '/101-connection': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n',
      '/huge': `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`,
    };
    const first = await answering((path) => answers[path] ?? '');
    const second = await answering((path) => answers[path] ?? '');
    // Ejection off: each request finds both instances in rotation, so a retry would have somewhere to go.
    const { port, proxy: p } = await proxy([first.port, second.port], { maxFails: 0 });
    for (const path of Object.keys(answers)) {
      const before = first.seen.requests + second.seen.requests;
      const put = `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;
      expect(await raw(port, put)).toMatch(/^HTTP\/1\.1 502 [\s\S]*web#\d failed: invalid HTTP response\n/);
      expect(first.seen.requests + second.seen.requests).toBe(before + 1);
      // The same answer to a request without a body (msup's own client): the same 502.
      expect(await raw(port, get(path))).toMatch(
        /^HTTP\/1\.1 502 [\s\S]*web#\d failed: invalid HTTP response\n/,
      );
    }
    expect(p.stats()[0]?.retries ?? 0).toBe(0);
    expect(p.stats()[1]?.retries ?? 0).toBe(0);
  });
});
