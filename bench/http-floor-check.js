// `node bench/http-floor-check.js [variant...]`: the prototype's behaviour checked by hand with raw
// sockets (issue 14; not a test of src/): the smuggling cases llhttp must refuse with 400, requests and
// responses of every framing (Content-Length, chunked, until close, 1xx, 204, 304, HEAD, pipelined,
// split across reads), and what the backend receives (the X-Forwarded-* headers, a head passed on as
// its bytes). A raw backend answers by the request's path. Prints one line per check and `N passed, N
// failed`.
import { fork } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, stopChild, waitForPort } from './tools.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ALL = ['uv', 'uv-consume', 'net', 'uv-rp', 'uv-js', 'uv-js-one', 'uv-js-pass', 'uv-js-pass-one'];
const variants = process.argv.length > 2 ? process.argv.slice(2) : ALL;

/** The backend's answers, by path; a function is given the socket and the request head. */
const ANSWERS = {
  '/cl':
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\nhello',
  '/chunked':
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
  '/badchunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  '/longchunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n',
  '/204': 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
  '/304': 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
  '/100': 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/cltte': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  '/dupcl': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
  '/barelf': 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok',
  '/barecr': 'HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 2\r\n\r\nok',
  '/fold': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok',
  '/conntok': 'HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nContent-Length: 2\r\n\r\nok',
  '/conntok2':
    'HTTP/1.1 200 OK\r\nX-Secret: 1\r\nX-Kept: 1\r\nConnection: X-Secret, x-other\r\nKeep-Alive: timeout=5\r\nX-Other: 2\r\nContent-Length: 2\r\n\r\nok',
  '/http10': 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
  '/close': (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
    setTimeout(() => socket.end('close'), 30);
  },
  '/split': async (socket) => {
    for (const p of [
      'HTTP/1.1 200 OK\r\nTransfer-En',
      'coding: chunked\r\n\r\n',
      '5\r',
      '\nhel',
      'lo\r',
      '\n0\r\n',
      '\r\n',
    ]) {
      socket.write(p);
      await sleep(15);
    }
  },
  '/echo': (socket, head, body) => {
    const text = `${head}\n--\n${body}`;
    socket.write(
      `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(text, 'latin1')}\r\n\r\n${text}`,
      'latin1',
    );
  },
};

/** A raw backend: one request at a time, its body read by Content-Length or chunked (simply). */
function backend(port) {
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.on('data', async (d) => {
      buffered += d;
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        let rest = buffered.slice(end + 4);
        let body = '';
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (cl) {
          if (rest.length < Number(cl[1])) return;
          body = rest.slice(0, Number(cl[1]));
          rest = rest.slice(Number(cl[1]));
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const last = rest.indexOf('0\r\n\r\n');
          if (last < 0) return;
          body = rest.slice(0, last + 5);
          rest = rest.slice(last + 5);
        }
        buffered = rest;
        const target = head.split(' ')[1];
        const answer = ANSWERS[target.split('?')[0]] ?? ANSWERS['/cl'];
        if (typeof answer === 'string') {
          socket.write(head.startsWith('HEAD') ? answer.replace(/hello$/, '') : answer, 'latin1');
          if (target === '/http10') socket.end();
        } else await answer(socket, head, body);
      }
    });
  });
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r(server)));
}

/** Writes the pieces (15 ms apart) and returns all that comes back until close or 400 ms of quiet. */
function exchange(port, pieces) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    let closed = false;
    let timer;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: got, closed });
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(done, 400);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      got += d;
      quiet();
    });
    socket.on('end', () => {
      closed = true;
      done();
    });
    socket.on('error', () => {
      closed = true;
      done();
    });
    socket.on('connect', async () => {
      for (const p of pieces) {
        socket.write(p, 'latin1');
        await sleep(15);
      }
      quiet();
    });
  });
}

const H = 'Host: a\r\n';
const get = (p, extra = '') => `GET ${p} HTTP/1.1\r\n${H}${extra}\r\n`;
const status400 = (r) => r.text.startsWith('HTTP/1.1 400') && r.closed;
const count = (text, s) => text.split(s).length - 1;
/** The body of a chunked response whose head ends at the first empty line; undefined if malformed. */
function dechunk(text) {
  let at = text.indexOf('\r\n\r\n') + 4;
  let body = '';
  for (;;) {
    const end = text.indexOf('\r\n', at);
    const size = Number.parseInt(text.slice(at, end), 16);
    if (end < 0 || !Number.isFinite(size)) return undefined;
    if (size === 0) return text.slice(end + 2) === '\r\n' ? body : undefined;
    body += text.slice(end + 2, end + 2 + size);
    if (text.slice(end + 2 + size, end + 4 + size) !== '\r\n') return undefined;
    at = end + 4 + size;
  }
}

const CHECKS = [
  // Smuggling and malformed requests: 400 and the connection closed.
  [
    'CL+TE: 400',
    [`POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    status400,
  ],
  [
    'duplicate Content-Length: 400',
    [`POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
    status400,
  ],
  ['obs-fold: 400', [`GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`], status400],
  [
    'invalid chunk size: 400',
    [`POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    status400,
  ],
  ['bare CR: 400', [`GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`], status400],
  ['bare LF: 400', [`GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`], status400],
  ['bare LF ending the head: 400', [`GET / HTTP/1.1\r\n${H}\n`], status400],
  [
    'bare CR after a good request: 200 then 400',
    [get('/cl'), `GET / HTTP/1.1\r\n${H}X: 1\rY: 2\r\n\r\n`],
    (r) => r.text.startsWith('HTTP/1.1 200') && r.text.includes('HTTP/1.1 400') && r.closed,
  ],
  ['duplicate Host: 400', [`GET / HTTP/1.1\r\n${H}${H}\r\n`], status400],
  [
    '20 KB header: 431',
    [`GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20000)}\r\n\r\n`],
    (r) => r.text.startsWith('HTTP/1.1 431'),
  ],
  // Responses of every framing.
  [
    'Content-Length, hop-by-hop lines dropped',
    [get('/cl')],
    (r) =>
      r.text === 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nDate: x\r\n\r\nhello',
  ],
  [
    'chunked, extensions and trailer',
    [get('/chunked')],
    (r) =>
      /^HTTP\/1\.1 200 OK\r\n[Tt]ransfer-[Ee]ncoding: chunked\r\n\r\n/.test(r.text) &&
      /hello/.test(r.text) &&
      / world/.test(r.text) &&
      r.text.endsWith('\r\n\r\n') &&
      !r.closed,
  ],
  [
    'chunked split across reads',
    [get('/split')],
    (r) =>
      /[Tt]ransfer-[Ee]ncoding: chunked\r\n\r\n/.test(r.text) && dechunk(r.text) === 'hello' && !r.closed,
  ],
  [
    'invalid chunk size in a response: cut',
    [get('/badchunk')],
    (r) => r.closed && !r.text.includes('hello\r\n0'),
  ],
  ['chunk longer than its size: cut', [get('/longchunk')], (r) => r.closed && !r.text.includes('0\r\n\r\n')],
  [
    'until close, re-chunked for a keep-alive client',
    [get('/close')],
    (r) =>
      /[Tt]ransfer-[Ee]ncoding: chunked\r\n\r\n/.test(r.text) &&
      r.text.replace(/\r\n[0-9a-f]+\r\n/g, '').includes('until close') &&
      r.text.endsWith('0\r\n\r\n') &&
      !r.closed,
  ],
  [
    'until close, to a closing client',
    [get('/close', 'Connection: close\r\n')],
    (r) =>
      r.text.includes('until ') && r.text.replace(/\r\n[0-9a-f]+\r\n/g, '').includes('close') && r.closed,
  ],
  [
    '204: no body, next request fine',
    [get('/204') + get('/cl')],
    (r) =>
      r.text.startsWith('HTTP/1.1 204') && count(r.text, 'HTTP/1.1 200') === 1 && r.text.endsWith('hello'),
  ],
  [
    '304 with Content-Length: no body',
    [get('/304') + get('/cl')],
    (r) =>
      r.text.startsWith('HTTP/1.1 304') &&
      r.text.includes('Content-Length: 10\r\n\r\nHTTP/1.1 200') &&
      r.text.endsWith('hello'),
  ],
  [
    'HEAD: Content-Length kept, no body',
    [`HEAD /cl HTTP/1.1\r\n${H}\r\n${get('/cl')}`],
    (r) =>
      r.text.startsWith('HTTP/1.1 200') &&
      r.text.includes('Content-Length: 5\r\nDate: x\r\n\r\nHTTP/1.1 200') &&
      r.text.endsWith('hello'),
  ],
  [
    '100 Continue skipped',
    [get('/100')],
    (r) => r.text.startsWith('HTTP/1.1 200') && r.text.endsWith('ok') && !r.text.includes('100'),
  ],
  ['CL+TE response: 502', [get('/cltte')], (r) => r.text.startsWith('HTTP/1.1 502')],
  ['duplicate Content-Length response: 502', [get('/dupcl')], (r) => r.text.startsWith('HTTP/1.1 502')],
  ['bare LF in a response: 502', [get('/barelf')], (r) => r.text.startsWith('HTTP/1.1 502')],
  ['bare CR in a response: 502', [get('/barecr')], (r) => r.text.startsWith('HTTP/1.1 502')],
  ['obs-fold in a response: 502', [get('/fold')], (r) => r.text.startsWith('HTTP/1.1 502')],
  [
    'Connection-named header dropped',
    [get('/conntok')],
    (r) => r.text.startsWith('HTTP/1.1 200') && !/x-secret/i.test(r.text) && r.text.endsWith('ok'),
  ],
  [
    'Connection-named headers before and after it dropped',
    [get('/conntok2')],
    (r) => r.text === 'HTTP/1.1 200 OK\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok',
  ],
  [
    'HTTP/1.0 response as 1.1',
    [get('/http10')],
    (r) => r.text.startsWith('HTTP/1.1 200 OK\r\n') && r.text.endsWith('ok'),
  ],
  // What the backend receives.
  [
    'X-Forwarded-* and X-Request-Id added',
    [get('/echo')],
    (r) =>
      /\r\nHost: a\r\nx-forwarded-for: 127\.0\.0\.1\r\nx-forwarded-proto: http\r\n/i.test(r.text) &&
      /x-forwarded-host: a\r\n/i.test(r.text) &&
      /x-forwarded-port: \d+/i.test(r.text) &&
      /x-request-id: [0-9a-f-]{36}/i.test(r.text),
  ],
  [
    'X-Request-Id kept',
    [get('/echo', 'X-Request-Id: mine\r\n')],
    (r) => count(r.text.toLowerCase(), 'x-request-id') === 1 && r.text.includes('X-Request-Id: mine'),
  ],
  [
    'X-Forwarded-For from loopback merged',
    [get('/echo', 'X-Forwarded-For: 10.0.0.1\r\n')],
    (r) =>
      /x-forwarded-for: 10\.0\.0\.1, 127\.0\.0\.1\r\n/i.test(r.text) &&
      count(r.text.toLowerCase(), 'x-forwarded-for') === 1,
  ],
  [
    'hop-by-hop request headers dropped',
    [get('/echo', 'Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n')],
    (r) => r.text.includes('200 OK') && !/x-hop|keep-alive: 5|\r\nte:/i.test(r.text),
  ],
  [
    'Expect dropped',
    [`POST /echo HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 2\r\n\r\nab`],
    (r) => r.text.startsWith('HTTP/1.1 200') && !/expect/i.test(r.text) && r.text.endsWith('--\nab'),
  ],
  [
    'Content-Length body',
    [`POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhel`, 'lo'],
    (r) => r.text.endsWith('--\nhello'),
  ],
  [
    'chunked body',
    [
      `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n`,
      '2\r\nlo\r\n0\r\n\r\n',
      get('/echo'),
    ],
    (r) => r.text.includes('--\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n') && count(r.text, 'HTTP/1.1 200') === 2,
  ],
  [
    'pipelined: three in one write, in order',
    [`${get('/echo?1')}${get('/echo?2')}${get('/echo?3')}`],
    (r) =>
      count(r.text, 'HTTP/1.1 200') === 3 &&
      r.text.indexOf('?1') < r.text.indexOf('?2') &&
      r.text.indexOf('?2') < r.text.indexOf('?3'),
  ],
  [
    'a head split across reads, then more',
    [`GET /echo?a HTTP/1.1\r\nHo`, `st: a\r\n\r\n`, get('/echo?b'), get('/echo?c')],
    (r) =>
      count(r.text, 'HTTP/1.1 200') === 3 &&
      r.text.includes('GET /echo?a') &&
      r.text.includes('GET /echo?c') &&
      count(r.text.toLowerCase(), 'x-forwarded-for') === 3,
  ],
  [
    'body then pipelined head in one read',
    [`POST /echo?p HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nabc${get('/echo?q')}`],
    (r) =>
      count(r.text, 'HTTP/1.1 200') === 2 &&
      r.text.includes('--\nabc') &&
      r.text.includes('GET /echo?q HTTP/1.1\r\nHost: a\r\nx-forwarded-for'),
  ],
  [
    'leading CRLF before a request',
    [`\r\n${get('/echo?lead')}`],
    (r) => r.text.startsWith('HTTP/1.1 200') && r.text.includes('GET /echo?lead HTTP/1.1\r\nHost: a\r\n'),
  ],
  [
    'HTTP/1.0 request: closed after',
    [`GET /cl HTTP/1.0\r\n${H}\r\n`],
    (r) => r.text.startsWith('HTTP/1.1 200') && r.text.includes('connection: close') && r.closed,
  ],
];

let passed = 0;
let failed = 0;
const backendPorts = [await freePort(), await freePort()];
const servers = await Promise.all(backendPorts.map(backend));
try {
  for (const variant of variants) {
    const port = await freePort();
    const child = fork(
      path.join(HERE, 'http-floor-proxy.js'),
      [variant, String(port), ...backendPorts.map(String)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    try {
      await waitForPort(port);
      for (const [name, pieces, ok] of CHECKS) {
        const r = await exchange(port, pieces);
        if (ok(r)) passed++;
        else {
          failed++;
          console.log(`FAIL ${variant}: ${name}\n${JSON.stringify(r.text.slice(0, 600))} closed=${r.closed}`);
        }
      }
      console.log(`${variant}: ${CHECKS.length} checks done`);
    } finally {
      await stopChild(child, 5000);
    }
  }
} finally {
  for (const s of servers) s.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
