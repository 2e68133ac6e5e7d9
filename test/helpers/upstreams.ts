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

  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    return port;
  }

  /**
   * A proxy listening on a free port, with `ports` as instances web#0, web#1, ...; `sidecars`: each is
   * added as msup's sidecar would be (its not-forwarded 503s believed).
   */
  async function proxy(ports: number[], options: ServiceProxyOptions & { sidecars?: boolean } = {}) {
    const { sidecars = false, ...settings } = options;
    const p = new ServiceProxy('web', settings);
    closers.push(() => p.close());
    const front = await p.listen(0);
    ports.forEach((port, i) => {
      p.add(`web#${i}:${port}`, `web#${i}`, { host: '127.0.0.1', port: port, sidecar: sidecars });
    });
    return { proxy: p, url: `http://127.0.0.1:${front}`, port: front };
  }

  return { httpUpstream, wsUpstream, tcpUpstream, closedPort, proxy };
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
