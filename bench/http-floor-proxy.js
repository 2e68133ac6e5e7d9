// A prototype, for measurement only (bench/http-floor.js; issue 14): the least an HTTP/1.1 forwarder in
// Node can do per request while staying strict. Requests are parsed by llhttp (Node's own HTTPParser, in
// REQUEST mode) straight from the client's bytes; the head is re-serialised with msup's header hygiene
// (hop-by-hop headers and the ones `Connection` names removed, Expect dropped, X-Forwarded-For/-Proto/
// -Host/-Port and X-Request-Id added, as src/proxy/headers.ts); the body is passed on as llhttp frames it
// (Content-Length as is, chunked re-chunked). Responses come back on keep-alive pooled connections,
// round-robin over the backends, parsed by llhttp in RESPONSE mode only to frame them; their head is
// re-serialised without hop-by-hop headers and the bytes are written to the client as they come, one
// write per read. No retries, hold window, upgrades, timeouts or limits: see BENCHMARKS.md for what a
// real implementation adds.
// Usage: node bench/http-floor-proxy.js <variant> <front port> <backend port>...
//   net: net.Socket on both sides; uv: libuv's TCP handles (as msup's TCP mode, one 16 KiB buffer per
//   connection that the kernel reads into); uv-consume: uv, but llhttp reads the client's handle itself
//   (as node:http's server does: no JavaScript per read on the client side). uv-rp, uv-js, uv-js-one,
//   uv-js-pass, uv-js-pass-one: uv with the boundary cut (see "The boundary cut" below).
import { randomFillSync, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { HOP_BY_HOP } from '../dist/proxy/headers.js';
import { InvalidResponse, ResponseParser } from '../dist/proxy/response-parser.js';
import { loadHandles } from '../dist/proxy/tcp-handles.js';

const require = createRequire(import.meta.url);
const { HTTPParser, methods: METHODS } = require('node:_http_common');

const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute } = HTTPParser;
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_HEADERS = 1000;
const BUFFER_BYTES = 16 * 1024;

const END_TO_END = new Set(['host', 'content-length']);

const isLoopback = (a) => a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');

/** Names a `Connection` header lists (hop-by-hop too); undefined in the common case. */
function connectionTokens(headers) {
  let tokens;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const t of headers[i + 1].split(',')) {
      const token = t.trim().toLowerCase();
      if (!token || token === 'close' || token === 'keep-alive' || END_TO_END.has(token)) continue;
      tokens ??= new Set();
      tokens.add(token);
    }
  }
  return tokens;
}

/**
 * The request head for the backend, or a status to answer (400, 431). `chunked`: llhttp has already
 * refused CL+TE, duplicate Content-Length and a Transfer-Encoding that does not end in chunked.
 */
function requestHead(method, url, headers, peer, port) {
  if (headers.length > MAX_HEADERS * 2) return { status: 431 };
  const trusted = isLoopback(peer);
  const extra = connectionTokens(headers);
  let head = `${method} ${url} HTTP/1.1\r\n`;
  let xff;
  let proto;
  let fhost;
  let fport;
  let host;
  let requestId = false;
  let chunked = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') chunked = true;
      continue;
    }
    if (lower === 'expect' || extra?.has(lower)) continue;
    if (lower.startsWith('x-forwarded-')) {
      if (!trusted) continue;
      if (lower === 'x-forwarded-for') xff = xff ? `${xff}, ${value}` : value;
      else if (lower === 'x-forwarded-proto') proto ??= value;
      else if (lower === 'x-forwarded-host') fhost ??= value;
      else if (lower === 'x-forwarded-port') fport ??= value;
      else head += `${name}: ${value}\r\n`;
      continue;
    }
    if (lower === 'host') {
      if (host !== undefined) return { status: 400 };
      host = value;
    } else if (lower === 'x-request-id') requestId = true;
    head += `${name}: ${value}\r\n`;
  }
  const bare = peer.startsWith('::ffff:') ? peer.slice(7) : peer;
  head += `x-forwarded-for: ${xff ? `${xff}, ${bare}` : bare}\r\nx-forwarded-proto: ${proto ?? 'http'}\r\n`;
  if (fhost ?? host) head += `x-forwarded-host: ${fhost ?? host}\r\n`;
  head += `x-forwarded-port: ${fport ?? port}\r\n`;
  if (!requestId) head += `x-request-id: ${randomUUID()}\r\n`;
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  return { head: `${head}connection: keep-alive\r\n\r\n`, chunked };
}

/** The response head for the client; `chunked`: the body is re-chunked (chunked or until close). */
function responseHead(status, reason, headers, close) {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  let extra;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i].toLowerCase();
    if (lower === 'connection') {
      for (const t of headers[i + 1].split(',')) {
        const token = t.trim().toLowerCase();
        if (!token || token === 'close' || token === 'keep-alive') continue;
        extra ??= new Set();
        extra.add(token);
      }
    }
  }
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || extra?.has(lower)) continue;
    if (lower === 'content-length') length = true;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  const bodyless = status === 204 || status === 304;
  const chunked = !length && !bodyless;
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  return { head: `${head}${close ? 'connection: close\r\n' : ''}\r\n`, chunked };
}

const STATUS_TEXT = { 400: 'Bad Request', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway' };
const reply = (status) =>
  `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;

const chunkHeader = (n) => `${n.toString(16)}\r\n`;

// ---------------------------------------------------------------------------------------------------
// Two ways to the sockets. A connection is { write(pieces, source), pause(), resume(), end(), destroy() }
// and calls back conn.ondata(buffer), conn.onend(), conn.onclose(). `pieces` are strings (latin1) and
// Buffers, written in one go; `source` is the connection the Buffers were read from (paused while a
// write holds them, since the uv buffers are reused).

function netIo() {
  class Conn {
    constructor(socket) {
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('data', (d) => this.ondata(d));
      socket.on('end', () => this.onend());
      socket.on('close', () => this.onclose());
      socket.on('error', () => {});
    }
    write(pieces, source) {
      const socket = this.socket;
      // A client's FIN ends its socket (allowHalfOpen off): no write then, and no wait for a 'drain'.
      if (socket.destroyed || socket.writableEnded) return;
      let ok;
      if (pieces.length === 1) ok = socket.write(pieces[0], 'latin1');
      else {
        socket.cork();
        for (const p of pieces) ok = socket.write(p, 'latin1');
        socket.uncork();
      }
      if (!ok && source) {
        source.pause();
        socket.once('drain', () => source.resume());
      }
    }
    pause() {
      this.socket.pause();
    }
    resume() {
      this.socket.resume();
    }
    end() {
      this.socket.end();
    }
    destroy() {
      this.socket.destroy();
    }
    peer() {
      return this.socket.remoteAddress ?? '';
    }
  }
  return {
    copies: false,
    listen(port, onClient) {
      const server = net.createServer({ noDelay: true }, (s) => onClient(new Conn(s)));
      return new Promise((r) => server.listen(port, '127.0.0.1', r));
    },
    connect(port, connected) {
      const conn = new Conn(net.connect(port, '127.0.0.1'));
      conn.socket.once('connect', () => connected(conn));
      return conn;
    },
  };
}

function uvIo(consume) {
  const io = loadHandles();
  if (!io) throw new Error('no libuv TCP handles in this Node');
  const EOF = -4095;
  class Conn {
    constructor(handle) {
      this.handle = handle;
      this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
      this.view = this.buffer;
      this.spare = undefined;
      this.closed = false;
      this.reading = false;
      handle.setNoDelay(true);
      handle.useUserBuffer(this.buffer);
      handle.onread = () => {
        const n = io.readResult();
        if (n === 0) return;
        if (n < 0) {
          if (n === EOF) this.onend();
          else this.destroy();
          return;
        }
        if (this.view.length !== n) this.view = this.buffer.subarray(0, n);
        this.ondata(this.view);
      };
    }
    start() {
      this.reading = true;
      this.handle.readStart();
    }
    write(pieces, source) {
      if (this.closed) return;
      const req = this.spare ?? io.newWrite();
      this.spare = undefined;
      req.handle = this.handle;
      let status;
      if (pieces.length === 1) {
        const p = pieces[0];
        status =
          typeof p === 'string' ? this.handle.writeLatin1String(req, p) : this.handle.writeBuffer(req, p);
      } else if (pieces.every(Buffer.isBuffer)) {
        status = this.handle.writev(req, pieces, true);
      } else {
        const chunks = new Array(pieces.length * 2);
        for (let i = 0; i < pieces.length; i++) {
          chunks[2 * i] = pieces[i];
          chunks[2 * i + 1] = 'latin1';
        }
        status = this.handle.writev(req, chunks, false);
      }
      if (status < 0) {
        this.destroy();
        return;
      }
      if (io.lastWriteWasAsync()) {
        // The kernel took part of it: the rest is written from the source's buffer, not read into meanwhile.
        if (source) source.pause();
        req.oncomplete = (s) => {
          if (s < 0) this.destroy();
          if (source) source.resume();
        };
      } else this.spare = req;
    }
    /** A fresh buffer for the reads to come: the last one's bytes are still held (uv-rp). */
    renew() {
      this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
      this.view = this.buffer;
      this.handle.useUserBuffer(this.buffer);
    }
    pause() {
      if (this.reading && !this.closed) this.handle.readStop();
      this.reading = false;
    }
    resume() {
      if (!this.reading && !this.closed) this.handle.readStart();
      this.reading = true;
    }
    end() {
      if (this.closed) return;
      const req = io.newShutdown();
      req.handle = this.handle;
      req.oncomplete = () => this.destroy();
      if (this.handle.shutdown(req) !== 0) this.destroy();
    }
    destroy() {
      if (this.closed) return;
      this.closed = true;
      this.handle.close(() => this.onclose());
    }
    peer() {
      const out = {};
      this.handle.getpeername(out);
      return out.address ?? '';
    }
  }
  return {
    // uv's read buffer is reused: a Buffer kept past its read is copied.
    copies: true,
    consume,
    listen(port, onClient) {
      const server = io.newServer();
      let status = server.bind('127.0.0.1', port);
      if (status === 0) status = server.listen(511);
      if (status < 0) return Promise.reject(new Error(`listen ${status}`));
      server.onconnection = (s, client) => {
        if (s < 0 || !client) return;
        onClient(new Conn(client));
      };
      return Promise.resolve();
    },
    connect(port, connected) {
      const conn = new Conn(io.newSocket());
      const req = io.newConnect();
      req.oncomplete = (s) => {
        if (s < 0) conn.destroy();
        else {
          conn.handle.setNoDelay(true);
          conn.start();
          connected(conn);
        }
      };
      if (conn.handle.connect(req, '127.0.0.1', port) < 0) queueMicrotask(() => conn.destroy());
      return conn;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The forwarder.

class Backend {
  constructor(io, port, make = (backend) => new Upstream(backend)) {
    this.io = io;
    this.port = port;
    this.idle = [];
    this.make = make;
  }
  /** A pooled connection (LIFO) or a new one; `use(upstream)` once it can take a request. */
  take(use) {
    const up = this.idle.pop();
    if (up) {
      use(up);
      return;
    }
    const fresh = this.make(this);
    fresh.waiting = use;
    fresh.conn = this.io.connect(this.port, () => {
      fresh.waiting = undefined;
      use(fresh);
    });
    fresh.attach();
  }
}

/** One pooled connection to a backend, with its llhttp RESPONSE parser. */
class Upstream {
  constructor(backend) {
    this.backend = backend;
    this.conn = undefined;
    this.front = undefined; // the client connection it is answering
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, 0);
    this.headers = undefined;
    this.chunked = false;
    this.keepAlive = false;
    this.out = [];
    this.answered = false;
    this.done = false;
    this.waiting = undefined;
    const p = this.parser;
    p[kOnHeaders] = (headers) => {
      this.headers = this.headers ? this.headers.concat(headers) : headers;
    };
    p[kOnHeadersComplete] = (_maj, _min, headers, _m, _u, status, reason, _upgrade, keepAlive) => {
      const all = headers ?? this.headers ?? [];
      this.headers = undefined;
      if (status < 200) return 0; // 1xx: not passed on here (node:http answers 100-continue itself)
      const front = this.front;
      this.keepAlive = keepAlive;
      const { head, chunked } = responseHead(status, reason, all, !front.keepAlive);
      this.chunked = chunked && !front.headRequest;
      this.answered = true;
      this.out.push(head);
      return front.headRequest ? 1 : 0;
    };
    p[kOnBody] = (chunk) => {
      if (this.chunked) this.out.push(chunkHeader(chunk.length), chunk, '\r\n');
      else this.out.push(chunk);
    };
    p[kOnMessageComplete] = () => {
      if (this.chunked) this.out.push('0\r\n\r\n');
      this.done = true;
    };
  }

  attach() {
    const conn = this.conn;
    conn.ondata = (data) => {
      const front = this.front;
      if (!front) {
        conn.destroy(); // bytes on an idle connection: not reused
        return;
      }
      this.done = false;
      const r = this.parser.execute(data);
      if (typeof r !== 'number') {
        this.fail();
        return;
      }
      this.flush();
      if (this.done) this.complete();
    };
    conn.onend = () => {
      if (this.front) {
        const r = this.parser.finish();
        if (r === undefined && this.done) {
          this.flush();
          this.complete();
          return;
        }
        this.fail();
      }
      conn.destroy();
    };
    conn.onclose = () => {
      const idle = this.backend.idle;
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      if (this.front) this.fail();
      else if (this.waiting) this.waiting(undefined); // the connection failed
    };
  }

  flush() {
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    this.front.conn.write(out, this.conn);
  }

  send(front, pieces) {
    this.front = front;
    this.answered = false;
    this.done = false;
    this.conn.write(pieces, front.conn);
  }

  complete() {
    const front = this.front;
    this.front = undefined;
    if (this.keepAlive) this.backend.idle.push(this);
    else this.conn.destroy();
    front.answered();
  }

  fail() {
    const front = this.front;
    this.front = undefined;
    this.conn.destroy();
    if (!front) return;
    if (this.answered) front.conn.destroy();
    else front.refuse(502);
  }
}

let next = 0;

/** One client connection, with its llhttp REQUEST parser; one request at a time goes to a backend. */
class Front {
  constructor(io, conn, backends, port) {
    this.io = io;
    this.conn = conn;
    this.backends = backends;
    this.port = port;
    this.peer = conn.peer();
    this.queue = []; // requests parsed while one is in flight: { pieces, complete, keepAlive, headRequest }
    this.current = undefined;
    this.upstream = undefined;
    this.headers = undefined;
    this.keepAlive = true;
    this.headRequest = false;
    this.closed = false;
    this.ended = false;
    const p = new HTTPParser();
    this.parser = p;
    p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES, 0);
    p[kOnHeaders] = (headers) => {
      this.headers = this.headers ? this.headers.concat(headers) : headers;
    };
    p[kOnHeadersComplete] = (_maj, _min, headers, method, url, _s, _r, upgrade, keepAlive) => {
      const all = headers ?? this.headers ?? [];
      this.headers = undefined;
      if (upgrade) {
        this.refuse(400); // upgrades: not in this prototype
        return 1;
      }
      const name = METHODS[method];
      const r = requestHead(name, url, all, this.peer, this.port);
      if (r.status) {
        this.refuse(r.status);
        return 1;
      }
      const req = {
        pieces: [r.head],
        chunked: r.chunked,
        complete: false,
        keepAlive,
        headRequest: name === 'HEAD',
      };
      this.queue.push(req);
      return 0;
    };
    p[kOnBody] = (chunk) => {
      if (this.closed) return;
      const req = this.queue[this.queue.length - 1];
      const data = this.io.copies && req !== this.current ? Buffer.from(chunk) : chunk;
      if (req.chunked) req.pieces.push(chunkHeader(data.length), data, '\r\n');
      else req.pieces.push(data);
    };
    p[kOnMessageComplete] = () => {
      if (this.closed) return;
      const req = this.queue[this.queue.length - 1];
      if (req.chunked) req.pieces.push('0\r\n\r\n');
      req.complete = true;
    };
    if (io.consume) {
      // llhttp reads the handle itself; JavaScript runs only for its callbacks and this one.
      p[kOnExecute] = (ret) => {
        if (typeof ret !== 'number') this.refuse(ret.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
        else this.after();
      };
      p.consume(conn.handle);
    }
    conn.ondata = (data) => {
      if (this.closed) return;
      const r = p.execute(data);
      if (typeof r !== 'number') {
        this.refuse(r.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
        return;
      }
      this.after();
    };
    conn.onend = () => {
      this.ended = true;
      if (!this.current && this.queue.length === 0) this.close();
    };
    conn.onclose = () => {
      this.closed = true;
      this.parser.free?.();
    };
    if (conn.start) conn.start();
  }

  /** After a read: the request in flight gets the body parsed for it; a new request goes out. */
  after() {
    const cur = this.current;
    if (cur && this.upstream && cur.pieces.length) {
      const pieces = cur.pieces;
      cur.pieces = [];
      this.upstream.conn.write(pieces, this.conn);
    }
    if (!cur) this.dispatch();
    // Pipelined requests wait in the queue; the client is not read while one waits.
    if (this.queue.length > (this.current ? 1 : 0)) this.conn.pause();
  }

  dispatch() {
    const req = this.queue[0];
    if (!req || this.closed) return;
    this.current = req;
    this.keepAlive = req.keepAlive;
    this.headRequest = req.headRequest;
    const backend = this.backends[next++ % this.backends.length];
    backend.take((up) => {
      if (!up) {
        this.refuse(502);
        return;
      }
      if (this.closed) {
        backend.idle.push(up);
        return;
      }
      this.upstream = up;
      const pieces = req.pieces;
      req.pieces = [];
      up.send(this, pieces);
    });
  }

  /** The response went out in full. */
  answered() {
    this.queue.shift();
    this.current = undefined;
    this.upstream = undefined;
    if (!this.keepAlive) {
      this.close();
      return;
    }
    if (this.queue.length) this.dispatch();
    else if (this.ended) this.close();
    else this.conn.resume();
  }

  refuse(status) {
    if (this.closed) return;
    this.conn.write([reply(status)]);
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.conn.end();
  }
}

// ---------------------------------------------------------------------------------------------------
// The boundary cut (variants uv-rp and uv-js*; BENCHMARKS.md): fewer calls from C++ into JavaScript and
// fewer strings per request.
// 1. The response framed by JavaScript on the handle's buffer instead of llhttp's RESPONSE mode binding
//    (uv-rp: src/proxy/response-parser.ts as it is, the head as strings re-serialised as above; uv-js: a
//    framer on the bytes, ByteFramer below, that passes the response's bytes on as ranges of the read
//    buffer with the hop-by-hop header lines cut out, no string per header).
// 2. (-pass) The client's request head passed on as its bytes, with X-Forwarded-* and X-Request-Id
//    appended before the final CRLF, when its headers need no change; llhttp still parses every request.
// 3. (-one) One write per direction per request: the pieces copied into one Buffer before the write,
//    instead of a writev of a string head and Buffer bodies.

/** A response the byte framer will not pass on (502 before its head went out, the client cut after). */
class Invalid extends Error {}
const invalid = (message) => {
  throw new Invalid(message);
};

const TOKEN_CHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN_CHAR[c.charCodeAt(0)] = 1;
const HEX = new Int8Array(256).fill(-1);
for (const c of '0123456789abcdef') {
  HEX[c.charCodeAt(0)] = Number.parseInt(c, 16);
  HEX[c.toUpperCase().charCodeAt(0)] = Number.parseInt(c, 16);
}
const CRLF_BYTES = Buffer.from('\r\n');
/** Whether data[at..] begins with `HTTP/1.` (Buffer's compare is a call into C++). */
const isHttp1 = (data, at) =>
  data[at] === 72 &&
  data[at + 1] === 84 &&
  data[at + 2] === 84 &&
  data[at + 3] === 80 &&
  data[at + 4] === 47 &&
  data[at + 5] === 49 &&
  data[at + 6] === 46;
const MAX_CHUNK_LINE = 1024;

/**
 * Where the first CRLF CRLF at or after `from` begins, or -1: in JavaScript (Buffer's indexOf is a call
 * into C++), stepping 4 bytes at a time over bytes that cannot be part of it.
 */
function headEnd(data, from) {
  const n = data.length;
  let i = from + 3;
  while (i < n) {
    const c = data[i];
    if (c !== 10 && c !== 13) {
      i += 4;
      continue;
    }
    for (let k = Math.max(from, i - 3); k <= i; k++) {
      if (data[k] === 13 && data[k + 1] === 10 && data[k + 2] === 13 && data[k + 3] === 10 && k + 3 < n)
        return k;
    }
    i++;
  }
  return -1;
}

/** Whether the bytes at `at` are `lower` (lower-case letters and '-'), ignoring case; names are tokens. */
function bytesAre(data, at, lower) {
  for (let i = 0; i < lower.length; i++) if ((data[at + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}
/** The same for a string. */
function stringIs(name, lower) {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++)
    if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

const KEEP = 0;
const DROP = 1;
const LENGTH = 2;
const CODING = 3;
const CONNECTION = 4;

/** What a response header line is, by its name's bytes (no string made). */
function responseName(data, at, len) {
  switch (len) {
    case 14:
      return bytesAre(data, at, 'content-length') ? LENGTH : KEEP;
    case 17:
      return bytesAre(data, at, 'transfer-encoding') ? CODING : KEEP;
    case 10:
      if (bytesAre(data, at, 'connection')) return CONNECTION;
      return bytesAre(data, at, 'keep-alive') ? DROP : KEEP;
    case 2:
      return bytesAre(data, at, 'te') ? DROP : KEEP;
    case 7:
      return bytesAre(data, at, 'trailer') || bytesAre(data, at, 'upgrade') ? DROP : KEEP;
    case 16:
      return bytesAre(data, at, 'proxy-connection') ? DROP : KEEP;
    case 18:
      return bytesAre(data, at, 'proxy-authenticate') ? DROP : KEEP;
    case 19:
      return bytesAre(data, at, 'proxy-authorization') ? DROP : KEEP;
    default:
      return KEEP;
  }
}

/**
 * One header line from `at` (a name, ':', a value, CRLF), validated: a token name, no obs-fold, no
 * control character (bare CR or LF included) in the value. Sets `line` to [name length, value start,
 * value end, next line].
 */
function headerLine(data, at, line) {
  let i = at;
  while (TOKEN_CHAR[data[i]] === 1) i++;
  if (i === at || data[i] !== 58)
    invalid(data[at] === 32 || data[at] === 9 ? 'obsolete line folding' : 'malformed header');
  line[0] = i - at;
  i++;
  while (data[i] === 32 || data[i] === 9) i++;
  const start = i;
  for (; ; i++) {
    const c = data[i];
    if (c === 13) break;
    if ((c < 32 && c !== 9) || c === 127 || c === undefined) invalid('invalid characters in a header');
  }
  if (data[i + 1] !== 10) invalid('bare CR');
  let end = i;
  while (end > start && (data[end - 1] === 32 || data[end - 1] === 9)) end--;
  line[1] = start;
  line[2] = end;
  line[3] = i + 2;
}

/** A chunk-size line data[at, end): hex digits, optional whitespace and extensions. Its size. */
function chunkSize(data, at, end) {
  let i = at;
  let size = 0;
  while (i < end && HEX[data[i]] >= 0) {
    if (i - at === 12) invalid('chunk size too large');
    size = size * 16 + HEX[data[i]];
    i++;
  }
  if (i === at) invalid('invalid chunk size');
  while (i < end && (data[i] === 32 || data[i] === 9)) i++;
  if (i < end) {
    if (data[i] !== 59) invalid('invalid chunk size');
    for (; i < end; i++) {
      const c = data[i];
      if ((c < 32 && c !== 9) || c === 127) invalid('invalid chunk extension');
    }
  }
  return size;
}

const F_HEAD = 0;
const F_LENGTH = 1;
const F_SIZE = 2;
const F_DATA = 3;
const F_DATA_END = 4;
const F_TRAILERS = 5;
const F_CLOSE = 6;
const F_DONE = 7;

/**
 * Frames one response at a time on the bytes as read, strictly (Content-Length, chunked with each size
 * validated, no body for HEAD, 1xx, 204 and 304, or until close), and collects what goes to the client in
 * `out`: ranges [from, to] of `data` (the buffer last parsed) and strings. The head goes out as its own
 * bytes without hop-by-hop lines (HTTP/1.0 turned into 1.1); a chunked body as it came (its sizes and
 * trailers checked); a body until close re-chunked for a keep-alive client.
 */
class ByteFramer {
  constructor() {
    this.state = F_DONE;
    this.noBody = false;
    this.clientKeepAlive = true;
    this.rechunk = false;
    this.pending = undefined;
    this.remaining = 0;
    this.keepAlive = false;
    this.answered = false;
    this.data = undefined;
    this.out = [];
    this.line = [0, 0, 0, 0];
    this.drops = [];
  }

  expect(noBody, clientKeepAlive) {
    this.state = F_HEAD;
    this.noBody = noBody;
    this.clientKeepAlive = clientKeepAlive;
    this.rechunk = false;
    this.pending = undefined;
    this.keepAlive = false;
    this.answered = false;
  }

  range(from, to) {
    if (from === to) return;
    const out = this.out;
    const n = out.length;
    if (n > 0 && out[n - 1] === from) out[n - 1] = to;
    else out.push(from, to);
  }

  /** Keeps data[at..] for the next read (a copy: the handle's buffer is reused). */
  keep(data, at, limit, message) {
    if (data.length - at > limit) invalid(message);
    this.pending = Buffer.from(data.subarray(at));
  }

  execute(input) {
    let data = input;
    if (this.pending) {
      data = Buffer.concat([this.pending, input]);
      this.pending = undefined;
    }
    this.data = data;
    const n = data.length;
    let at = 0;
    while (at < n) {
      switch (this.state) {
        case F_HEAD: {
          const end = headEnd(data, at);
          if (end < 0) {
            this.keep(data, at, MAX_HEADER_BYTES, 'response head too large');
            return;
          }
          if (end - at > MAX_HEADER_BYTES) invalid('response head too large');
          at = this.head(data, at, end + 4);
          break;
        }
        case F_LENGTH: {
          const k = Math.min(this.remaining, n - at);
          this.range(at, at + k);
          at += k;
          this.remaining -= k;
          if (this.remaining === 0) this.state = F_DONE;
          break;
        }
        case F_SIZE: {
          const end = data.indexOf(CRLF_BYTES, at);
          if (end < 0) {
            this.keep(data, at, MAX_CHUNK_LINE, 'chunk size line too long');
            return;
          }
          this.remaining = chunkSize(data, at, end);
          this.range(at, end + 2);
          at = end + 2;
          this.state = this.remaining === 0 ? F_TRAILERS : F_DATA;
          break;
        }
        case F_DATA: {
          const k = Math.min(this.remaining, n - at);
          this.range(at, at + k);
          at += k;
          this.remaining -= k;
          if (this.remaining === 0) this.state = F_DATA_END;
          break;
        }
        case F_DATA_END: {
          if (n - at < 2) {
            this.keep(data, at, 2, '');
            return;
          }
          if (data[at] !== 13 || data[at + 1] !== 10) invalid('chunk data longer than its size');
          this.range(at, at + 2);
          at += 2;
          this.state = F_SIZE;
          break;
        }
        case F_TRAILERS: {
          const end = data.indexOf(CRLF_BYTES, at);
          if (end < 0) {
            this.keep(data, at, MAX_HEADER_BYTES, 'trailers too large');
            return;
          }
          if (end === at) this.state = F_DONE;
          else {
            headerLine(data, at, this.line);
            if (this.line[3] !== end + 2) invalid('malformed trailer');
          }
          this.range(at, end + 2);
          at = end + 2;
          break;
        }
        case F_CLOSE:
          if (this.rechunk) this.out.push(chunkHeader(n - at));
          this.range(at, n);
          if (this.rechunk) this.out.push('\r\n');
          at = n;
          break;
        default:
          break;
      }
      if (this.state === F_DONE) {
        // Bytes after the response: the connection is not reused, the rest is dropped with it.
        if (at < n) this.keepAlive = false;
        return;
      }
    }
  }

  /** The backend closed: the end of a response framed by its close; invalid otherwise. */
  finish() {
    if (this.state === F_CLOSE) {
      if (this.pending) invalid('unreachable');
      if (this.rechunk) this.out.push('0\r\n\r\n');
      this.state = F_DONE;
      this.keepAlive = false;
      return;
    }
    if (this.state !== F_DONE) invalid('connection closed before the end of the response');
    this.keepAlive = false;
  }

  /** The head data[start, end) (end past its empty line); where parsing goes on. */
  head(data, start, end) {
    if (!isHttp1(data, start) || (data[start + 7] !== 48 && data[start + 7] !== 49))
      invalid('not an HTTP/1.x response');
    const minor = data[start + 7] - 48;
    const d1 = data[start + 9] - 48;
    const d2 = data[start + 10] - 48;
    const d3 = data[start + 11] - 48;
    if (data[start + 8] !== 32 || !(d1 >= 1 && d1 <= 9) || !(d2 >= 0 && d2 <= 9) || !(d3 >= 0 && d3 <= 9))
      invalid('invalid status line');
    const status = d1 * 100 + d2 * 10 + d3;
    let i = start + 12;
    if (data[i] === 32) {
      for (i++; data[i] !== 13; i++) {
        const c = data[i];
        if ((c < 32 && c !== 9) || c === 127) invalid('invalid status line');
      }
    } else if (data[i] !== 13) invalid('invalid status line');
    if (data[i + 1] !== 10) invalid('bare CR');
    i += 2;
    let length = -1;
    let coding = false;
    let chunked = false;
    let keepAlive = minor === 1;
    let tokens;
    let drops = []; // (setting an array's length is a call into the runtime: a new one is cheaper)
    this.drops = drops;
    const line = this.line;
    const headers = i;
    while (i < end - 2) {
      headerLine(data, i, line);
      const kind = responseName(data, i, line[0]);
      const next = line[3];
      if (kind !== KEEP) {
        if (kind === LENGTH) {
          if (length >= 0) invalid('repeated Content-Length');
          const from = line[1];
          const to = line[2];
          if (to === from || to - from > 15) invalid('invalid Content-Length');
          length = 0;
          for (let k = from; k < to; k++) {
            const d = data[k] - 48;
            if (!(d >= 0 && d <= 9)) invalid('invalid Content-Length');
            length = length * 10 + d;
          }
        } else if (kind === CODING) {
          coding = true;
          const last = data.latin1Slice(line[1], line[2]).split(',').pop().trim().toLowerCase();
          chunked = last === 'chunked';
          // A chunked body goes on as it came, so does this line; any other coding: until close.
          if (!chunked) drops.push(i, next);
        } else {
          const length = line[2] - line[1];
          if (kind === CONNECTION && length === 10 && bytesAre(data, line[1], 'keep-alive')) keepAlive = true;
          else if (kind === CONNECTION && length === 5 && bytesAre(data, line[1], 'close')) keepAlive = false;
          else if (kind === CONNECTION) {
            for (const t of data.latin1Slice(line[1], line[2]).split(',')) {
              const token = t.trim().toLowerCase();
              if (token === 'close') keepAlive = false;
              else if (token === 'keep-alive') keepAlive = true;
              else if (token) {
                tokens ??= new Set();
                tokens.add(token);
              }
            }
          }
          drops.push(i, next);
        }
      }
      i = next;
    }
    if (coding && length >= 0) invalid('both Transfer-Encoding and Content-Length');
    if (status < 200) {
      if (status === 101) invalid('101 to a request without Upgrade');
      return end; // 1xx: not passed on (as the llhttp variants); the final head follows
    }
    if (tokens) {
      this.dropNamed(data, headers, end, tokens);
      drops = this.drops;
    }
    this.keepAlive = keepAlive;
    this.answered = true;
    let next;
    if (this.noBody || status === 204 || status === 304) next = F_DONE;
    else if (chunked) next = F_SIZE;
    else if (coding || length < 0) {
      next = F_CLOSE;
      this.keepAlive = false;
      this.rechunk = this.clientKeepAlive;
    } else {
      next = length === 0 ? F_DONE : F_LENGTH;
      this.remaining = length;
    }
    this.state = next;
    let from = start;
    if (minor === 0) {
      this.out.push('HTTP/1.1');
      from = start + 8;
    }
    for (let k = 0; k < drops.length; k += 2) {
      this.range(from, drops[k]);
      from = drops[k + 1];
    }
    this.range(from, end - 2);
    if (this.rechunk) this.out.push('transfer-encoding: chunked\r\n');
    if (!this.clientKeepAlive) this.out.push('connection: close\r\n');
    this.range(end - 2, end);
    return end;
  }

  /** Adds to `drops` the lines named by Connection (rare: a second pass, names as strings). */
  dropNamed(data, from, end, tokens) {
    const line = this.line;
    for (let i = from; i < end - 2; ) {
      headerLine(data, i, line);
      if (tokens.has(data.latin1Slice(i, i + line[0]).toLowerCase())) this.drops.push(i, line[3]);
      i = line[3];
    }
    const pairs = [];
    for (let k = 0; k < this.drops.length; k += 2) pairs.push([this.drops[k], this.drops[k + 1]]);
    pairs.sort((a, b) => a[0] - b[0]);
    this.drops = pairs.filter((p, k) => k === 0 || p[0] !== pairs[k - 1][0]).flat();
  }
}

/** The pieces `out` names: ranges of `data` as views, strings as they are. */
function viewsOf(out, data) {
  const pieces = [];
  for (let k = 0; k < out.length; ) {
    const v = out[k];
    if (typeof v === 'string') {
      pieces.push(v);
      k++;
    } else {
      pieces.push(data.subarray(v, out[k + 1]));
      k += 2;
    }
  }
  return pieces;
}

/** The same in one Buffer (a single range stays a view of `data`). */
function oneOf(out, data) {
  if (out.length === 2 && typeof out[0] === 'number') return [data.subarray(out[0], out[1])];
  let size = 0;
  for (let k = 0; k < out.length; ) {
    const v = out[k];
    if (typeof v === 'string') {
      size += v.length;
      k++;
    } else {
      size += out[k + 1] - v;
      k += 2;
    }
  }
  const buffer = Buffer.allocUnsafe(size);
  let at = 0;
  for (let k = 0; k < out.length; ) {
    const v = out[k];
    if (typeof v === 'string') {
      at += buffer.latin1Write(v, at);
      k++;
    } else {
      at = copyBytes(data, v, out[k + 1], buffer, at);
      k += 2;
    }
  }
  return [buffer];
}

/** src[from, to) copied to dst at `at` (a loop for a few bytes: a call into C++ costs more); the end. */
function copyBytes(src, from, to, dst, at) {
  if (to - from > 64) {
    dst.set(src.subarray(from, to), at);
    return at + to - from;
  }
  let o = at;
  for (let i = from; i < to; i++) dst[o++] = src[i];
  return o;
}

/** A latin1 string written at `at`; the end. */
function writeString(dst, at, text) {
  let o = at;
  for (let i = 0; i < text.length; i++) dst[o++] = text.charCodeAt(i);
  return o;
}

const RANDOM = Buffer.allocUnsafe(4096);
let randomAt = RANDOM.length;
const HEX_DIGITS = Buffer.from('0123456789abcdef');

/** A version 4 UUID, as randomUUID's, written at `at` as its 36 bytes (no string); the end. */
function writeUuid(dst, at) {
  if (randomAt === RANDOM.length) {
    randomFillSync(RANDOM);
    randomAt = 0;
  }
  let o = at;
  for (let i = 0; i < 16; i++) {
    let b = RANDOM[randomAt + i];
    if (i === 6) b = (b & 0x0f) | 0x40;
    else if (i === 8) b = (b & 0x3f) | 0x80;
    dst[o++] = HEX_DIGITS[b >> 4];
    dst[o++] = HEX_DIGITS[b & 15];
    if (i === 3 || i === 5 || i === 7 || i === 9) dst[o++] = 45;
  }
  randomAt += 16;
  return o;
}

/** Pieces (strings and Buffers) as one Buffer. */
function joined(pieces) {
  if (pieces.length === 1) return pieces;
  return [Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)))];
}

/** One pooled connection to a backend, its responses framed by ByteFramer. */
class ByteUpstream extends Upstream {
  constructor(backend, one) {
    super(backend);
    this.framer = new ByteFramer();
    this.one = one;
  }

  attach() {
    const conn = this.conn;
    const framer = this.framer;
    conn.ondata = (data) => {
      if (!this.front) {
        conn.destroy(); // bytes on an idle connection: not reused
        return;
      }
      try {
        framer.execute(data);
      } catch (e) {
        if (!(e instanceof Invalid)) throw e;
        framer.out = [];
        this.fail();
        return;
      }
      this.flush();
      if (framer.state === F_DONE) this.complete();
    };
    conn.onend = () => {
      if (this.front) {
        try {
          framer.finish();
          this.flush();
          this.keepAlive = false;
          this.complete();
          return;
        } catch (e) {
          if (!(e instanceof Invalid)) throw e;
          framer.out = [];
          this.fail();
        }
      }
      conn.destroy();
    };
    conn.onclose = () => {
      const idle = this.backend.idle;
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      if (this.front) this.fail();
      else if (this.waiting) this.waiting(undefined);
    };
  }

  flush() {
    const framer = this.framer;
    if (framer.out.length === 0) return;
    const pieces = this.one ? oneOf(framer.out, framer.data) : viewsOf(framer.out, framer.data);
    framer.out = [];
    this.front.conn.write(pieces, this.conn);
  }

  send(front, pieces) {
    this.front = front;
    this.framer.expect(front.headRequest, front.keepAlive);
    this.conn.write(this.one ? joined(pieces) : pieces, front.conn);
  }

  complete() {
    this.keepAlive = this.framer.keepAlive;
    this.answered = this.framer.answered;
    super.complete();
  }

  fail() {
    this.answered = this.framer.answered;
    super.fail();
  }
}

/** uv-rp: the response framed by src/proxy/response-parser.ts; its head re-serialised as strings. */
class RpUpstream extends Upstream {
  constructor(backend) {
    super(backend);
    this.rp = new ResponseParser({
      head: (status, reason, raw) => {
        const front = this.front;
        const { head, chunked } = responseHead(status, reason, raw, !front.keepAlive);
        this.chunked = chunked && !front.headRequest;
        this.answered = true;
        this.out.push(head);
        return true;
      },
      body: (chunk) => {
        if (this.chunked) this.out.push(chunkHeader(chunk.length), chunk, '\r\n');
        else this.out.push(chunk);
        return true;
      },
    });
  }

  attach() {
    const conn = this.conn;
    const rp = this.rp;
    conn.ondata = (data) => {
      if (!this.front) {
        conn.destroy();
        return;
      }
      try {
        rp.execute(data);
      } catch (e) {
        if (!(e instanceof InvalidResponse)) throw e;
        this.out = [];
        this.fail();
        return;
      }
      if (rp.done && this.chunked) this.out.push('0\r\n\r\n');
      // The parser may keep a view of what it has not parsed yet, and the handle's buffer is reused.
      if (!rp.done) conn.renew();
      this.flush();
      if (rp.done) {
        this.keepAlive = rp.keepAlive;
        this.complete();
      }
    };
    conn.onend = () => {
      if (this.front) {
        try {
          rp.finish();
          if (this.chunked) this.out.push('0\r\n\r\n');
          this.flush();
          this.keepAlive = false;
          this.complete();
          return;
        } catch (e) {
          if (!(e instanceof InvalidResponse)) throw e;
          this.out = [];
          this.fail();
        }
      }
      conn.destroy();
    };
    conn.onclose = () => {
      const idle = this.backend.idle;
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      if (this.front) this.fail();
      else if (this.waiting) this.waiting(undefined);
    };
  }

  send(front, pieces) {
    this.rp.expect(front.headRequest);
    super.send(front, pieces);
  }
}

/**
 * A client connection whose request heads go on as their bytes when they need no change (-pass), still
 * parsed by llhttp. Where llhttp is in the read buffer is not told by Node's binding, so it is followed
 * here: `pos` is the offset llhttp has reached in this read (-1: not known), advanced past each head (its
 * first empty line: llhttp refuses a bare CR or LF, so that is where it ended the head) and each
 * Content-Length body; a head that begins in an earlier read, or a chunked body, makes it unknown for
 * the rest of the connection, and those heads are re-serialised as above.
 */
class ByteFront extends Front {
  constructor(io, conn, backends, port, { pass, one }) {
    super(io, conn, backends, port);
    this.pass = pass;
    this.one = one;
    this.data = undefined;
    this.pos = 0;
    this.synced = true;
    const bare = this.peer.startsWith('::ffff:') ? this.peer.slice(7) : this.peer;
    this.forwarded = `x-forwarded-for: ${bare}\r\nx-forwarded-proto: http\r\nx-forwarded-port: ${port}\r\n`;
    this.forwardedBytes = Buffer.from(this.forwarded, 'latin1');
    const p = this.parser;
    p[kOnHeadersComplete] = (major, minor, headers, method, url, _s, _r, upgrade, keepAlive) => {
      const all = headers ?? this.headers ?? [];
      this.headers = undefined;
      if (upgrade) {
        this.refuse(400);
        return 1;
      }
      const name = METHODS[method];
      const start = this.pos;
      let end = -1;
      if (start >= 0) {
        // The request line must be where llhttp is followed to be; then the head ends at the first
        // empty line.
        if (this.startsWith(start, name)) end = headEnd(this.data, start);
        this.pos = end < 0 ? -1 : end + 4;
      }
      let req;
      if (pass && end >= 0) req = this.passed(major, minor, all, start, end + 2);
      if (!req) {
        const r = requestHead(name, url, all, this.peer, this.port);
        if (r.status) {
          this.refuse(r.status);
          return 1;
        }
        if (r.chunked) this.pos = -1;
        req = { pieces: [r.head], chunked: r.chunked, complete: false, borrowed: false };
      }
      req.keepAlive = keepAlive;
      req.headRequest = name === 'HEAD';
      this.queue.push(req);
      return 0;
    };
    const onBody = p[kOnBody];
    p[kOnBody] = (chunk) => {
      if (this.pos >= 0) this.pos += chunk.length;
      onBody(chunk);
    };
    conn.ondata = (data) => {
      if (this.closed) return;
      this.data = data;
      this.pos = this.synced ? 0 : -1;
      const r = p.execute(data);
      if (typeof r !== 'number') {
        this.refuse(r.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
        return;
      }
      this.synced = this.pos === data.length;
      this.after();
    };
  }

  startsWith(at, method) {
    const data = this.data;
    for (let i = 0; i < method.length; i++) if (data[at + i] !== method.charCodeAt(i)) return false;
    return data[at + method.length] === 32;
  }

  /** The request as its head's bytes data[start, end) and the appended headers, or undefined. */
  passed(major, minor, headers, start, end) {
    if (major !== 1 || minor !== 1 || headers.length > MAX_HEADERS * 2) return undefined;
    let host;
    let requestId = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      switch (name.length) {
        case 2:
          if (stringIs(name, 'te')) return undefined;
          break;
        case 4:
          if (stringIs(name, 'host')) {
            if (host !== undefined) return undefined; // answered 400 by the re-serialising route
            host = headers[i + 1];
          }
          break;
        case 6:
          if (stringIs(name, 'expect')) return undefined;
          break;
        case 7:
          if (stringIs(name, 'trailer') || stringIs(name, 'upgrade')) return undefined;
          break;
        case 10:
          if (stringIs(name, 'connection') || stringIs(name, 'keep-alive')) return undefined;
          break;
        case 12:
          if (stringIs(name, 'x-request-id')) requestId = true;
          break;
        case 16:
          if (stringIs(name, 'proxy-connection')) return undefined;
          break;
        case 17:
          if (stringIs(name, 'transfer-encoding')) return undefined;
          break;
        case 18:
          if (stringIs(name, 'proxy-authenticate')) return undefined;
          break;
        case 19:
          if (stringIs(name, 'proxy-authorization')) return undefined;
          break;
      }
      // X-Forwarded-*: merged or dropped by the re-serialising route.
      if (
        name.length > 12 &&
        (name.charCodeAt(0) | 0x20) === 120 &&
        stringIs(name.slice(0, 12), 'x-forwarded-')
      )
        return undefined;
    }
    const data = this.data;
    if (this.one) {
      // The head's bytes, then the added headers written as bytes: no string is built.
      const prefix = this.forwardedBytes;
      let size = end - start + prefix.length + 2;
      if (host !== undefined) size += 20 + host.length;
      if (!requestId) size += 52;
      const buffer = Buffer.allocUnsafe(size);
      let o = copyBytes(data, start, end, buffer, 0);
      o = copyBytes(prefix, 0, prefix.length, buffer, o);
      if (host !== undefined) {
        o = writeString(buffer, o, 'x-forwarded-host: ');
        o = writeString(buffer, o, host);
        o = writeString(buffer, o, '\r\n');
      }
      if (!requestId) {
        o = writeString(buffer, o, 'x-request-id: ');
        o = writeUuid(buffer, o);
        o = writeString(buffer, o, '\r\n');
      }
      writeString(buffer, o, '\r\n');
      return { pieces: [buffer], chunked: false, complete: false, borrowed: false };
    }
    let added = this.forwarded;
    if (host !== undefined) added += `x-forwarded-host: ${host}\r\n`;
    if (!requestId) added += `x-request-id: ${randomUUID()}\r\n`;
    added += '\r\n';
    return { pieces: [data.subarray(start, end), added], chunked: false, complete: false, borrowed: true };
  }

  after() {
    const cur = this.current;
    if (this.one && cur && this.upstream && cur.pieces.length > 1) cur.pieces = joined(cur.pieces);
    super.after();
    // A head still waiting (for a backend connection, or behind another request) holds a view of the
    // read buffer, which the next read overwrites: copied now.
    for (const req of this.queue) {
      if (!req.borrowed) continue;
      req.borrowed = false;
      req.pieces = req.pieces.map((p) => (typeof p === 'string' ? p : Buffer.from(p)));
    }
  }
}

const VARIANTS = {
  net: {},
  uv: {},
  'uv-consume': { consume: true },
  'uv-rp': { upstream: (b) => new RpUpstream(b) },
  'uv-js': { upstream: (b) => new ByteUpstream(b, false) },
  'uv-js-one': { upstream: (b) => new ByteUpstream(b, true) },
  'uv-js-pass': { upstream: (b) => new ByteUpstream(b, false), front: { pass: true, one: false } },
  'uv-js-pass-one': { upstream: (b) => new ByteUpstream(b, true), front: { pass: true, one: true } },
};
const [mode, frontPort, ...backendPorts] = process.argv.slice(2);
const variant = VARIANTS[mode];
if (!variant) throw new Error(`unknown variant ${mode}: ${Object.keys(VARIANTS).join(', ')}`);
const io = mode === 'net' ? netIo() : uvIo(variant.consume === true);
const backends = backendPorts.map((p) => new Backend(io, Number(p), variant.upstream));
const front = variant.front;
await io.listen(Number(frontPort), (conn) =>
  front
    ? new ByteFront(io, conn, backends, Number(frontPort), front)
    : new Front(io, conn, backends, Number(frontPort)),
);
process.send?.('ready');
process.on('SIGTERM', () => process.exit(0));
