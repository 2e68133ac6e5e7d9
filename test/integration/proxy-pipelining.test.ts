// Pipelined requests on one client connection: forwarded one at a time (each once the answer before it
// is out), so one client connection takes one instance connection at a time, and answered in order.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bind, createListener } from '../../src/proxy/listener.js';
import { waitFor } from '../helpers/processes.js';
import { raw, useUpstreams } from '../helpers/upstreams.js';

const { proxy, httpUpstream } = useUpstreams();

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

/**
 * An instance that answers with the request's path and body; counts the connections it took, and the
 * most open at once.
 */
async function counting() {
  const seen = { connections: 0, open: 0, most: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => res.end(`${req.url}${body ? ` ${body}` : ''}\n`));
  });
  server.on('connection', (socket: net.Socket) => {
    seen.connections++;
    seen.open++;
    seen.most = Math.max(seen.most, seen.open);
    socket.on('close', () => seen.open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { port: (server.address() as net.AddressInfo).port, seen };
}

/** The answers' bodies in `reply` (each `/path...\n`), in order. */
const bodies = (reply: string) => [...reply.matchAll(/\r\n\r\n(\/[^\n]*)\n/g)].map((m) => m[1]);

/**
 * A front of the test's own on a balancer of the instance at `instancePort`, to watch what its listener
 * does (the requests it read, its client errors): what a service's front is.
 */
async function ownFront(instancePort: number, headersTimeoutMs = 10_000) {
  const { proxy: service } = await proxy([instancePort]);
  const front = createListener(
    (req, res) => service.handle(req, res),
    (req, socket, head) => service.upgrade(req, socket, head),
    { headersTimeoutMs },
  );
  const stats = { read: 0 };
  front.on('request', () => stats.read++);
  const port = await bind(front, 0, '127.0.0.1', 'a test front');
  closers.push(async () => {
    front.closeAllConnections();
    await new Promise((r) => front.close(r));
  });
  return { front, port, stats };
}

/**
 * An instance that answers requests with their path and hands upgrades to `onUpgrade`; the upgraded
 * sockets, which closeAllConnections does not reach, are destroyed at the end.
 */
async function upgrading(onUpgrade: (socket: net.Socket) => void): Promise<number> {
  const server = http.createServer((req, res) => res.end(`${req.url}\n`));
  const tunnels: net.Socket[] = [];
  server.on('upgrade', (_req, socket: net.Socket) => {
    tunnels.push(socket);
    onUpgrade(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    for (const tunnel of tunnels) tunnel.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as net.AddressInfo).port;
}

const WS_HEAD =
  'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

describe('pipelined requests', () => {
  it('are forwarded one at a time, on one instance connection, and answered in order', async () => {
    const instance = await counting();
    const { port } = await proxy([instance.port]);
    const n = 200;
    let requests = '';
    for (let i = 0; i < n; i++) requests += `GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    requests += 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const reply = await raw(port, requests);
    expect(bodies(reply)).toEqual([...Array.from({ length: n }, (_, i) => `/r${i}`), '/last']);
    // One instance connection at a time, kept alive between the answers: not one per pipelined request.
    expect(instance.seen.most).toBe(1);
    expect(instance.seen.connections).toBe(1);
  });

  it('with bodies too: each reaches the instance whole, in order, one at a time', async () => {
    const instance = await counting();
    const { port } = await proxy([instance.port]);
    const n = 50;
    let requests = '';
    for (let i = 0; i < n; i++) {
      const body = `body${i}`;
      requests += `POST /p${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    }
    requests += 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const reply = await raw(port, requests);
    expect(bodies(reply)).toEqual([...Array.from({ length: n }, (_, i) => `/p${i} body${i}`), '/last']);
    // A few at most (undici's pool, which carries the bodies, may take a new connection before it reuses
    // the last one's), not one per pipelined request.
    expect(instance.seen.connections).toBeLessThan(10);
  });
});

describe('a bad request behind pipelined ones', () => {
  it('gets its 400 after the answer to the request before it, which the instance got', async () => {
    const instance = await counting();
    const { port } = await proxy([instance.port]);
    // The POST and garbage in one write: Node's parser sees the garbage while the POST is under way.
    const reply = await raw(
      port,
      'POST /posted HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiTHIS IS NOT HTTP\r\n\r\n',
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n\/posted hi\n[\s\S]*HTTP\/1\.1 400 /);
  });

  it('gets its 408 after the answer to the request before it, even when that answer comes later', async () => {
    // The answer to /slow waits until the front has timed out the unfinished request behind it.
    let timedOut: () => void = () => {};
    const timeout = new Promise<void>((resolve) => (timedOut = resolve));
    const instance = await httpUpstream((req, res) => void timeout.then(() => res.end(`${req.url}\n`)));
    const { front, port } = await ownFront(instance, 200);
    front.on('clientError', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') timedOut();
    });
    const reply = await raw(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HT');
    expect(reply).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n\/slow\n[\s\S]*HTTP\/1\.1 408 /);
  });
});

describe('a long pipeline to a slow instance', () => {
  it('is read ahead only so far, and every request is answered, in order, once the instance answers', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const instance = await httpUpstream((req, res) => void released.then(() => res.end(`${req.url}\n`)));
    const { port, stats } = await ownFront(instance);
    const n = 8000;
    let requests = '';
    for (let i = 0; i < n; i++) requests += `GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    requests += 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const reply = raw(port, requests);
    // Until the reading stops: the count holds still for a while (each request waits on the first).
    let last = -1;
    let still = 0;
    await waitFor(() => {
      still = stats.read === last && stats.read > 0 ? still + 1 : 0;
      last = stats.read;
      return still >= 10;
    }, 20_000);
    // Each request waiting holds memory: the front reads a bounded number ahead (32, and what the socket
    // read that went past them: about 2000 of these), not the whole pipeline (8000, on the old code).
    expect(stats.read).toBeGreaterThan(0);
    expect(stats.read).toBeLessThan(n / 2);
    release();
    expect(bodies(await reply)).toEqual([...Array.from({ length: n }, (_, i) => `/r${i}`), '/last']);
  });

  it('stays read ahead only so far while a slow instance answers (each answer let Node read a chunk more)', async () => {
    let answered = 0;
    const instance = await httpUpstream((req, res) =>
      setTimeout(() => {
        answered++;
        res.end(`${req.url}\n`);
      }, 5),
    );
    const { port, stats } = await ownFront(instance);
    const client = net.connect(port, '127.0.0.1');
    client.on('data', () => {});
    client.on('error', () => {});
    const batch = Buffer.from('GET /r HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(1000));
    let stop = false;
    const pump = () => {
      while (!stop) {
        if (!client.write(batch)) {
          client.once('drain', pump);
          return;
        }
      }
    };
    client.on('connect', pump);
    try {
      // 200 answers: on the old code each let Node parse about one more 64 KiB chunk (1800 of these GETs).
      expect(await waitFor(() => answered >= 200, 30_000)).toBe(true);
      expect(stats.read - answered).toBeLessThan(5000);
    } finally {
      stop = true;
      client.destroy();
    }
  });

  it('notices a client that closes while its pipeline is held back: the request under way is aborted', async () => {
    // An instance that never answers: the work for the client's requests ends only when msup aborts it.
    const seen = { requests: 0, aborted: 0 };
    const instance = await httpUpstream((_req, res) => {
      seen.requests++;
      res.on('close', () => seen.aborted++);
    });
    const { port, proxy: p } = await proxy([instance]);
    for (const close of ['destroy', 'end'] as const) {
      const before = { ...seen };
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => {});
      await new Promise((r) => client.once('connect', r));
      // More than 32 waiting: msup stops parsing the connection (the rest of it is read, up to a bound).
      client.write('GET /r HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(100));
      expect(await waitFor(() => seen.requests === before.requests + 1, 10_000)).toBe(true);
      client[close]();
      // On the old code the paused connection never saw the close: the request stayed with the instance.
      expect(await waitFor(() => seen.aborted === before.aborted + 1, 10_000)).toBe(true);
      expect(await waitFor(() => p.stats()[0]?.inFlight === 0 && p.budget.active === 0, 10_000)).toBe(true);
      expect(seen.requests).toBe(before.requests + 1);
      client.destroy();
    }
  });

  it('answers 400 to an HTTP/1.1 upgrade without Host, as to a request', async () => {
    let upgrades = 0;
    const instance = await upgrading((socket) => {
      upgrades++;
      socket.destroy();
    });
    const { port } = await proxy([instance]);
    const reply = await raw(port, `${WS_HEAD.replace('Host: x\r\n', '')}\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 400 [\s\S]*no Host header/);
    expect(upgrades).toBe(0);
  });

  it('tunnels what a client sends after the 101 of an upgrade pipelined behind more than 32 requests', async () => {
    const instance = await upgrading((socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      socket.on('data', (d) => socket.write(`ECHO[${d}]`));
    });
    const { port } = await proxy([instance]);
    const client = net.connect(port, '127.0.0.1');
    closers.push(async () => void client.destroy());
    let out = '';
    client.on('data', (d) => (out += d));
    client.on('error', () => {});
    await new Promise((r) => client.once('connect', r));
    client.write(`${'GET /r HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(60)}${WS_HEAD}\r\n`);
    expect(await waitFor(() => out.includes('101 Switching Protocols'), 10_000)).toBe(true);
    expect(bodies(out)).toHaveLength(60);
    client.write('AFTER101');
    // On the old code the tunnel got nothing: the socket stayed paused after Node let go of it.
    expect(await waitFor(() => out.includes('ECHO[AFTER101]'), 10_000)).toBe(true);
  });

  it('answers 501 to a WebSocket upgrade with a body, as the sidecars do', async () => {
    let upgrades = 0;
    const instance = await upgrading((socket) => {
      upgrades++;
      socket.destroy();
    });
    const { port } = await proxy([instance]);
    expect(await raw(port, `${WS_HEAD}Content-Length: 5\r\n\r\nhello`)).toMatch(
      /^HTTP\/1\.1 501 [\s\S]*no request body/,
    );
    expect(await raw(port, `${WS_HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 501 /,
    );
    expect(upgrades).toBe(0);
  });
});
