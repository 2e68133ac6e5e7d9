// In-process upstreams and a ServiceProxy in front of them, over loopback, closed after each test.
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach } from 'vitest';
import { WebSocketServer } from 'ws';
import { ServiceProxy, type ServiceProxyOptions } from '../../src/proxy/server.js';

export function useUpstreams() {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  });

  async function httpUpstream(handler: http.RequestListener): Promise<number> {
    const server = http.createServer(handler);
    // Node 24 answers 431 past 1000 headers by default; the tests check what msup forwards.
    server.maxHeadersCount = 0;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
    );
    return (server.address() as net.AddressInfo).port;
  }

  /** A WebSocket server that echoes every message as `<name>: <message>`; `reset` resets its TCP connection. */
  async function wsUpstream(name: string): Promise<number> {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket) =>
      socket.on('message', (data) => {
        if (String(data) === 'reset')
          (socket as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
        else socket.send(`${name}: ${data}`);
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise((r) => {
          for (const client of wss.clients) client.terminate();
          wss.close();
          server.close(() => r());
          server.closeAllConnections();
        }),
    );
    return (server.address() as net.AddressInfo).port;
  }

  /** A raw TCP server: `onSocket` decides what the "instance" says. */
  async function tcpUpstream(onSocket: (socket: net.Socket) => void): Promise<number> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.resume(); // read (and drop) what the proxy sends, so the peer's close is seen
      onSocket(socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    );
    return (server.address() as net.AddressInfo).port;
  }

  /**
   * An instance that records each request head it gets, over raw TCP (names and values as sent): 101 to a
   * head with Upgrade (then nothing more is read on that connection), 200 `ok` to any other (kept alive,
   * as a proxy's pool may reuse it; request bodies are skipped).
   */
  async function headRecorder(): Promise<{ port: number; seen: Seen[] }> {
    const seen: Seen[] = [];
    const port = await tcpUpstream((socket) => {
      let buffered = '';
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const [line = '', ...fields] = buffered.slice(0, end).split('\r\n');
          const headers = fields.map((f): [string, string] => {
            const colon = f.indexOf(':');
            return [f.slice(0, colon).toLowerCase(), f.slice(colon + 1).trim()];
          });
          seen.push({ line, headers });
          if (headers.some(([name]) => name === 'upgrade')) {
            socket.off('data', onData);
            socket.write(
              'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
            );
            return;
          }
          const length = Number(headers.find(([name]) => name === 'content-length')?.[1] ?? 0);
          buffered = buffered.slice(end + 4 + length);
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      };
      socket.on('data', onData);
    });
    return { port, seen };
  }

  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    return port;
  }

  /**
   * A proxy listening on a free port, with `ports` as instances web#0, web#1, ...; `sidecars`: each is
   * added as msup's sidecar would be (its not-forwarded 503s believed); `host`: the address the front
   * listens on (127.0.0.1 by default).
   */
  async function proxy(
    ports: number[],
    options: ServiceProxyOptions & { sidecars?: boolean; host?: string } = {},
  ) {
    const { sidecars = false, host = '127.0.0.1', ...settings } = options;
    const p = new ServiceProxy('web', settings);
    closers.push(() => p.close());
    const front = await p.listen(0, host);
    ports.forEach((port, i) => {
      p.add(`web#${i}:${port}`, `web#${i}`, { host: '127.0.0.1', port: port, sidecar: sidecars });
    });
    return { proxy: p, url: `http://${host}:${front}`, port: front };
  }

  return { httpUpstream, wsUpstream, tcpUpstream, headRecorder, closedPort, proxy };
}

/** A request head as an instance got it. */
export interface Seen {
  line: string;
  /** [lower-case name, value], in the order sent. */
  headers: [string, string][];
}

/**
 * Sends `data` from a raw client to `host`:`port` and resolves with the status line of the answer's head
 * (then closes). The client connects from `host` too: a front on a non-loopback address then sees a client
 * that is not on loopback.
 */
export function statusOf(port: number, data: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, localAddress: host }, () => socket.write(data));
    let out = '';
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (!out.includes('\r\n\r\n')) return;
      socket.destroy();
      resolve(out.slice(0, out.indexOf('\r\n')));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before an answer: ${JSON.stringify(out)}`)));
  });
}

/** Sends raw bytes to a port and collects everything until the server closes. */
export function raw(port: number, data: string, keepOpenMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    if (keepOpenMs) socket.setTimeout(keepOpenMs, () => socket.destroy());
  });
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
