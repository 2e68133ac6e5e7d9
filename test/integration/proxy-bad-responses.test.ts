// What an instance answers to a request with a body (undici's path) and without one (msup's lean client):
// a 204 or 304 with a Content-Length is complete, transfer codings other than chunked are refused (502),
// and a response undici cannot take is an invalid response on either path, not retried.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrontProxy } from '../../src/proxy/front.js';
import { sendOnAfterAnswer } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
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

  it('skips an unrequested 100 Continue and other 1xx before the final answer, on either path', async () => {
    // The interim responses in a write of their own (the instance then answers), and in one with the answer.
    let requests = 0;
    const instance = await tcpUpstream((socket: net.Socket) => {
      let buffered = '';
      socket.on('data', (d: Buffer) => {
        buffered += d.toString('latin1');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.slice(end + 4 + length);
          const n = ++requests;
          socket.write('HTTP/1.1 100 Continue\r\n\r\n');
          setImmediate(() =>
            socket.write(
              `HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok${String(n).padStart(2, '0')}`,
            ),
          );
        }
      });
    });
    const { port, proxy: p } = await proxy([instance]);
    const post = 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi';
    const get = 'GET /g HTTP/1.1\r\nHost: x\r\n\r\n';
    // Two of each on one client connection: an instance connection may carry the second too.
    const reply = await raw(
      port,
      `${post}${post}${get}${get.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`,
    );
    const answers = [...reply.matchAll(/HTTP\/1\.1 (\d+) /g)].map((m) => m[1]);
    expect(answers).toEqual(['200', '200', '200', '200']);
    expect([...reply.matchAll(/\r\n\r\n(ok\d\d)/g)].map((m) => m[1])).toEqual([
      'ok01',
      'ok02',
      'ok03',
      'ok04',
    ]);
    expect(p.stats()[0]?.errors).toBe(0);
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

describe('an answer that comes before the whole request body', () => {
  it('reaches the client, the rest of the body is read and dropped, and the connection serves on', async () => {
    // A 413 as soon as the head is in (the rest of the body is read and dropped), 200 to a GET.
    const early = await tcpUpstream((socket: net.Socket) => {
      let head = '';
      socket.on('data', (d: Buffer) => {
        if (head.includes('\r\n\r\n')) return;
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.write(
          head.startsWith('POST')
            ? 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!'
            : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter',
        );
        head = 'answered\r\n\r\n';
      });
    });
    const { port } = await proxy([early]);
    const size = 64 * 1024 * 1024;
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let closed = false;
    socket.on('data', (d) => (got += d));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    try {
      socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
      // Far more than the socket buffers hold: it goes through only while msup reads it.
      const chunk = Buffer.alloc(1024 * 1024, 97);
      for (let sent = 0; sent < size && !closed; sent += chunk.length) {
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
      }
      expect(got).toMatch(/^HTTP\/1\.1 413 [\s\S]*\r\n\r\nbig!$/);
      socket.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await waitFor(() => got.endsWith('after') || closed, 20_000)).toBe(true);
      expect(closed).toBe(false);
    } finally {
      socket.destroy();
    }
  });

  const early413 = () =>
    tcpUpstream((socket: net.Socket) => {
      let head = '';
      socket.on('data', (d: Buffer) => {
        if (head.includes('\r\n\r\n')) return;
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n'))
          socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!');
      });
    });
  const TOO_LARGE = /^HTTP\/1\.1 413 [\s\S]*\r\n\r\nbig!$/;

  it('closes the connection after lingerTime in all, however steadily the client sends', async () => {
    // Before, a client sending slowly or endlessly held the connection (and msup reading it) for ever.
    const { port } = await proxy([await early413()], { lingerTimeMs: 500, lingerTimeoutMs: 60_000 });
    expect(await sendOnAfterAnswer(port, 10, TOO_LARGE)).toMatchObject({ closed: true });
  });

  it('closes the connection once the client sends nothing for lingerTimeout', async () => {
    // A byte every second: more than lingerTimeout apart, well within Node's own keep-alive timeout (5 s),
    // which on its own would never close a connection that keeps sending (and the total bound is far).
    const { port } = await proxy([await early413()], { lingerTimeMs: 60_000, lingerTimeoutMs: 200 });
    expect(await sendOnAfterAnswer(port, 1000, TOO_LARGE)).toMatchObject({ closed: true });
  });

  it("bounds the shared front's own early answers too (a 404 to a request with a body)", async () => {
    // Node's server reads and drops the body of a request answered without reading it, with no bound.
    const front = new FrontProxy([], () => undefined, { lingerTimeMs: 500, lingerTimeoutMs: 60_000 });
    const port = await front.listen(0);
    try {
      expect(await sendOnAfterAnswer(port, 10, /^HTTP\/1\.1 404 /)).toMatchObject({ closed: true });
    } finally {
      await front.close();
    }
  });
});
