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
// Usage: node bench/http-floor-proxy.js <net|uv|uv-consume> <front port> <backend port>...
//   net: net.Socket on both sides; uv: libuv's TCP handles (as msup's TCP mode, one 16 KiB buffer per
//   connection that the kernel reads into); uv-consume: uv, but llhttp reads the client's handle itself
//   (as node:http's server does: no JavaScript per read on the client side).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import { HOP_BY_HOP } from '../dist/proxy/headers.js';
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
  constructor(io, port) {
    this.io = io;
    this.port = port;
    this.idle = [];
  }
  /** A pooled connection (LIFO) or a new one; `use(upstream)` once it can take a request. */
  take(use) {
    const up = this.idle.pop();
    if (up) {
      use(up);
      return;
    }
    const fresh = new Upstream(this);
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

const [mode, frontPort, ...backendPorts] = process.argv.slice(2);
const io = mode === 'net' ? netIo() : uvIo(mode === 'uv-consume');
const backends = backendPorts.map((p) => new Backend(io, Number(p)));
await io.listen(Number(frontPort), (conn) => new Front(io, conn, backends, Number(frontPort)));
process.send?.('ready');
process.on('SIGTERM', () => process.exit(0));
