// The bootstrap's Runtime API client (libuv's TCP handles, else node:net; never node:http) against a real
// server on loopback, on each of its two kinds of connection: it keeps one connection per request in turn,
// reads bodies split over many packets, cuts a header value at a line break, and refuses what msup's server
// never sends.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Connector,
  handleConnector,
  netConnector,
  RuntimeClient,
} from '../../src/runtime/function/runtime-client.js';
import { loadHandles } from '../../src/uv-handles.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        if (server instanceof http.Server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

const handles = loadHandles();
if (!handles) throw new Error('this Node offers no TCP handles: the bootstrap would use node:net only');
const connectors: [string, Connector][] = [
  ['TCP handles', handleConnector(handles)],
  ['node:net', netConnector()],
];

describe.each(connectors)("the bootstrap's Runtime API client on %s", (_, connector) => {
  it('talks HTTP/1.1 to a real server: keep-alive, large bodies, its headers as sent', async () => {
    const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const connections = new Set<net.Socket>();
    const server = http.createServer({ keepAliveTimeout: 0 }, (req, res) => {
      connections.add(req.socket);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const body = req.url === '/big' ? 'é'.repeat(1_000_000) : '{"status":"OK"}';
        res.writeHead(req.method === 'POST' ? 202 : 200, {
          'content-length': Buffer.byteLength(body),
          'lambda-runtime-aws-request-id': 'id-1',
        });
        res.end(body);
      });
    });
    const client = new RuntimeClient('127.0.0.1', await listen(server), connector);
    const big = await client.call('GET', '/big');
    expect(big.status).toBe(200);
    expect(big.body).toBe('é'.repeat(1_000_000));
    expect(big.headers['lambda-runtime-aws-request-id']).toBe('id-1');
    const posted = await client.call('POST', '/answer', '{"x":"ü"}', {
      'lambda-runtime-function-error-type': 'Bad\r\nx-forged: yes',
    });
    expect(posted).toMatchObject({ status: 202, body: '{"status":"OK"}' });
    expect(seen[1]).toMatchObject({ method: 'POST', url: '/answer', body: '{"x":"ü"}' });
    expect(seen[1]?.headers['lambda-runtime-function-error-type']).toBe('Bad');
    expect(seen[1]?.headers['x-forged']).toBeUndefined();
    expect(connections.size).toBe(1); // the second request reused the first one's connection
    // Two at once: two connections.
    await Promise.all([client.call('GET', '/a'), client.call('GET', '/b')]);
    expect(connections.size).toBe(2);
  });

  it('opens a connection ahead of the first request, and the first request uses it', async () => {
    const accepted: net.Socket[] = [];
    let onAccept: (() => void) | undefined;
    const server = net.createServer((socket) => {
      accepted.push(socket);
      onAccept?.();
      socket.on('data', () =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nlambda-runtime-aws-request-id: r\r\n\r\nok'),
      );
    });
    closers.push(async () => {
      for (const socket of accepted) socket.destroy();
    });
    const client = new RuntimeClient('127.0.0.1', await listen(server), connector);
    const acceptedOne = new Promise<void>((resolve) => {
      onAccept = resolve;
    });
    client.open();
    await acceptedOne; // accepted before any request was made
    expect(accepted).toHaveLength(1);
    expect(await client.call('GET', '/next')).toMatchObject({ status: 200, body: 'ok' });
    expect(await client.call('GET', '/next')).toMatchObject({ status: 200, body: 'ok' });
    expect(accepted).toHaveLength(1); // both requests went over the connection opened ahead
  });

  it('rejects an answer without Content-Length and a connection closed before the answer', async () => {
    const server = net.createServer((socket) => {
      socket.once('data', (chunk) => {
        if (chunk.toString().startsWith('GET /chunked'))
          socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n');
        else socket.destroy();
      });
    });
    const client = new RuntimeClient('127.0.0.1', await listen(server), connector);
    await expect(client.call('GET', '/chunked')).rejects.toThrow(/without a valid Content-Length/);
    await expect(client.call('GET', '/closed')).rejects.toThrow(/closed the connection/);
  });
});

it('rejects a request to a port where nothing listens, on either kind of connection', async () => {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  closers.length = 0;
  for (const [, connector] of connectors) {
    const client = new RuntimeClient('127.0.0.1', port, connector);
    await expect(client.call('GET', '/next')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  }
});
