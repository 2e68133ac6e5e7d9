// Small HTTP client helpers over loopback.
import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';
import { waitFor } from './processes.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; agent?: http.Agent } = {},
): Promise<Reply> {
  return requestWith(url, options, (req) => req.end(options.body));
}

/** A request whose body `write` sends and ends (in pieces over time, say). */
export function requestWith(
  url: string,
  options: { method?: string; headers?: Record<string, string>; agent?: http.Agent },
  write: (req: http.ClientRequest) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    write(req);
  });
}

export async function getJson<T = Record<string, unknown>>(url: string, agent?: http.Agent): Promise<T> {
  const reply = await request(url, agent ? { agent } : {});
  if (reply.status !== 200) throw new Error(`GET ${url} answered ${reply.status}: ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

/**
 * Every byte a server sends for one request written as it is (`Connection: close`, so the server ends the
 * connection): to see what an HTTP client would hide, such as a body after a 204.
 */
export function rawExchange(url: string, method: string): Promise<string> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.once('error', reject);
    socket.write(`${method} ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  });
}

/** A port free on 127.0.0.1 a moment ago (listened on, then closed). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A client that sends the head of a chunked upload to 127.0.0.1:`port`, waits for its early answer
 * (`answer`, asserted to come within 10 s), and goes on with a chunk every `every` ms (0: none). Resolves
 * with what it got once the server has closed the connection (or 20 s have passed: `closed` is then
 * false); the socket is destroyed in any case. For the bounds on reading past an early answer.
 */
export async function sendOnAfterAnswer(
  port: number,
  every: number,
  answer: RegExp,
): Promise<{ got: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  const state = { got: '', closed: false };
  socket.on('data', (d) => (state.got += d));
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
  const timer = every > 0 ? setInterval(() => socket.write('1\r\nx\r\n'), every) : undefined;
  try {
    expect(await waitFor(() => answer.test(state.got), 10_000)).toBe(true);
    await waitFor(() => state.closed, 20_000);
    return state;
  } finally {
    clearInterval(timer);
    socket.destroy();
  }
}
