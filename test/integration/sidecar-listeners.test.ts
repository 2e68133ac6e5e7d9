// A sidecar's listeners (inbound.ts, outbound.ts) against real sockets, as msup's front behaves: no limit on
// a request's whole time but an idle one on its body, a head the front would refuse refused here too, and
// the headers, retries, traces, upgrades and plain text on the mesh port handled as the front handles them.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { MeshCa } from '../../src/runtime/sidecar/ca.js';
import { Inbound } from '../../src/sidecar/inbound.js';
import type { SidecarSettings, TlsMaterial } from '../../src/sidecar/messages.js';
import { GoldenMetrics } from '../../src/sidecar/metrics.js';
import { Outbound } from '../../src/sidecar/outbound.js';
import { freePort, request, requestWith, sendOnAfterAnswer } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

const PROJECT = 'listeners-test';
const TRUST = `spiffe://msup.local/${PROJECT}/`;
let dir: string;
let tls: TlsMaterial;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'msup-sidecar-listeners-'));
  const ca = await MeshCa.open(path.join(dir, 'ca'), PROJECT);
  const issued = await ca.issue('api', 3_600_000);
  tls = { ca: ca.pem, cert: issued.cert, key: issued.key };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const closers: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closers.splice(0).map((close) => close()));
});

const SETTINGS: SidecarSettings = {
  retries: 2,
  retryBudget: 1,
  minRetriesPerSecond: 100,
  timeoutMs: 10_000,
  tryTimeoutMs: 5000,
  breaker: null,
  balancing: 'least-request',
  mtls: 'strict',
  bodyTimeoutMs: 10_000,
};

/** An app (`handler`, or one that answers with what it got: method, headers, body) on a free port. */
async function app(handler?: http.RequestListener) {
  const server = http.createServer(
    handler ??
      ((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              method: req.method,
              rawHeaders: req.rawHeaders,
              body: Buffer.concat(chunks).toString(),
            }),
          );
        });
      }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  );
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** The bounds of the reading of a body answered early (proxy/linger.ts), when a test sets them. */
interface Linger {
  lingerTimeMs?: number;
  lingerTimeoutMs?: number;
}
const lingerOf = (over: Linger): Linger => ({
  ...(over.lingerTimeMs !== undefined && { lingerTimeMs: over.lingerTimeMs }),
  ...(over.lingerTimeoutMs !== undefined && { lingerTimeoutMs: over.lingerTimeoutMs }),
});

/** A sidecar's inbound side in front of the app at `appPort`, open. */
async function inbound(
  appPort: number,
  over: { mtls?: 'strict' | 'permissive'; bodyTimeoutMs?: number } & Linger = {},
) {
  const ports = { ingress: await freePort(), mesh: await freePort() };
  const side = new Inbound({
    host: '127.0.0.1',
    ingressPort: ports.ingress,
    meshPort: ports.mesh,
    mode: 'http',
    mtls: over.mtls ?? 'strict',
    trustPrefix: TRUST,
    tls,
    metrics: new GoldenMetrics(Date.now),
    log: () => {},
    ...(over.bodyTimeoutMs !== undefined && { bodyTimeoutMs: over.bodyTimeoutMs }),
    ...lingerOf(over),
  });
  closers.push(() => side.close());
  await side.open({ host: '127.0.0.1', port: appPort });
  return ports;
}

/** An outbound listener to plain-HTTP instances at `ports` (instances outside the mesh), open. */
async function outbound(
  ports: number[],
  over: {
    settings?: Partial<SidecarSettings>;
    bodyTimeoutMs?: number;
    log?: (line: string) => void;
  } & Linger = {},
) {
  const port = await freePort();
  const listener = new Outbound({
    peer: 'api',
    host: '127.0.0.1',
    port,
    identity: `${TRUST}api`,
    settings: { ...SETTINGS, ...over.settings },
    tls,
    metrics: new GoldenMetrics(Date.now),
    now: Date.now,
    random: () => 0,
    ...(over.bodyTimeoutMs !== undefined && { bodyTimeoutMs: over.bodyTimeoutMs }),
    ...(over.log && { log: over.log }),
    ...lingerOf(over),
  });
  await listener.listen();
  closers.push(() => listener.close());
  listener.setEndpoints(ports.map((p) => ({ host: '127.0.0.1', port: p, tls: false })));
  return { port, url: `http://127.0.0.1:${port}` };
}

/** Sends `text` on a new connection; resolves with all that comes back once the server closes it. */
function raw(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(text);
  });
}

/** A POST whose body stops after its first bytes: resolves with the answer. */
function stalledPost(url: string, headers: Record<string, string>) {
  let sent: http.ClientRequest | undefined;
  closers.push(() => void sent?.destroy());
  return requestWith(url, { method: 'POST', headers }, (req) => {
    sent = req;
    req.write('abc');
  });
}

describe("a sidecar's listeners", () => {
  it('set no limit on a whole request, and count headers themselves, as the front does', async () => {
    const { port } = await app();
    const created: http.Server[] = [];
    for (const module of [http, https]) {
      const original = module.createServer.bind(module) as (...args: unknown[]) => http.Server;
      vi.spyOn(module, 'createServer').mockImplementation(((...args: unknown[]) => {
        const server = original(...args);
        created.push(server);
        return server;
      }) as never);
    }
    await inbound(port, { mtls: 'permissive' });
    await outbound([port]);
    // Ingress, mesh, the permissive mesh port's plain side, outbound.
    expect(created).toHaveLength(4);
    for (const server of created) expect([server.requestTimeout, server.maxHeadersCount]).toEqual([0, 0]);
  });

  it('answer 408 and close when a request body stops arriving for the idle time', {
    timeout: 15_000,
  }, async () => {
    const { port } = await app();
    const side = await inbound(port, { bodyTimeoutMs: 200 });
    const out = await outbound([port], { bodyTimeoutMs: 200 });
    for (const url of [`http://127.0.0.1:${side.ingress}/up`, `${out.url}/up`]) {
      for (const headers of [{ 'content-length': '10' }, { 'transfer-encoding': 'chunked' }] as Record<
        string,
        string
      >[]) {
        const reply = await stalledPost(url, headers);
        expect([reply.status, reply.headers.connection, reply.body]).toEqual([
          408,
          'close',
          'msup sidecar: the request body stopped arriving\n',
        ]);
      }
    }
  });

  it('refuse a request or an upgrade with two Host headers with 400, as the front does', async () => {
    const { port } = await app();
    const side = await inbound(port);
    const out = await outbound([port]);
    for (const to of [side.ingress, out.port]) {
      const answer = await raw(to, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('more than one Host header');
    }
    const upgrade = await raw(
      side.ingress,
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe("a sidecar's retries", () => {
  it("passes on the app's own answer when a failure ejected the last instance, not a 503 of its own", async () => {
    let calls = 0;
    const { port } = await app((_req, res) => {
      calls++;
      res.writeHead(504, { 'retry-after': '7', 'content-type': 'text/plain' });
      res.end('the app timed out\n');
    });
    const out = await outbound([port], {
      settings: { breaker: { failures: 5, ejectionMs: 60_000, maxEjectionMs: 60_000 } },
    });
    // 3 attempts (2 retries), then 2 more: the fifth failure in a row ejects the only instance.
    for (const expected of [3, 5]) {
      const reply = await request(`${out.url}/x`);
      expect([reply.status, reply.headers['retry-after'], reply.body]).toEqual([
        504,
        '7',
        'the app timed out\n',
      ]);
      expect(calls).toBe(expected);
    }
    const ejected = await request(`${out.url}/x`);
    expect([ejected.status, ejected.body]).toEqual([
      503,
      'msup sidecar: every instance of api is ejected by the circuit breaker\n',
    ]);
    expect(calls).toBe(5);
  });
});

describe("a sidecar's trace context", () => {
  it('starts a new trace for a traceparent in upper case, and drops the tracestate of a trace not continued', async () => {
    const { port } = await app();
    const side = await inbound(port);
    const out = await outbound([port]);
    const valid = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const upper = `00-${'AB'.repeat(16)}-${'CD'.repeat(8)}-01`;
    for (const url of [`http://127.0.0.1:${side.ingress}/t`, `${out.url}/t`]) {
      const seen = async (headers: Record<string, string>) => {
        const reply = await request(url, { headers });
        const raw = (JSON.parse(reply.body) as { rawHeaders: string[] }).rawHeaders;
        const get = (name: string) => {
          const at = raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name);
          return at < 0 ? undefined : raw[at + 1];
        };
        return { trace: get('traceparent')?.split('-')[1], state: get('tracestate') };
      };
      expect(await seen({ traceparent: valid, tracestate: 'k=v' })).toEqual({
        trace: 'ab'.repeat(16),
        state: 'k=v',
      });
      const started = await seen({ traceparent: upper, tracestate: 'k=v' });
      expect(started.trace).not.toBe('ab'.repeat(16));
      expect(started.state).toBeUndefined();
      expect((await seen({ tracestate: 'k=v' })).state).toBeUndefined();
    }
  });
});

describe("a sidecar's mesh port", () => {
  it("passes a WebSocket upgrade in plain text through where mtls is 'permissive'", async () => {
    const { server, port } = await app();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket, req) => {
      socket.send(`client id: ${req.headers['x-msup-client-id'] ?? 'none'}`);
    });
    closers.push(() => new Promise((resolve) => wss.close(resolve)));
    const side = await inbound(port, { mtls: 'permissive' });
    const ws = new WebSocket(`ws://127.0.0.1:${side.mesh}/ws`, { headers: { 'x-msup-client-id': 'forged' } });
    closers.push(() => ws.terminate());
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`answered ${res.statusCode}`)));
      ws.once('error', reject);
    });
    expect(first).toBe('client id: none');
  });
});

describe("a sidecar's circuit breaker", () => {
  it('says in its log when it ejects an instance and when the instance is back', async () => {
    let failing = true;
    const { port } = await app((_req, res) => {
      res.writeHead(failing ? 503 : 200);
      res.end();
    });
    const lines: string[] = [];
    const out = await outbound([port], {
      settings: { retries: 0, breaker: { failures: 2, ejectionMs: 100, maxEjectionMs: 100 } },
      log: (line) => lines.push(line),
    });
    for (let i = 0; i < 2; i++) expect((await request(`${out.url}/x`)).status).toBe(503);
    expect(lines).toEqual([
      `circuit breaker: api instance 127.0.0.1:${port} ejected for 100ms (2 failures in a row)`,
    ]);
    failing = false;
    // Once the ejection is over, the next request is the trial.
    expect(await waitFor(async () => (await request(`${out.url}/x`)).status === 200)).toBe(true);
    expect(lines.slice(1)).toEqual([
      `circuit breaker: api instance 127.0.0.1:${port} is back in rotation (its trial request succeeded)`,
    ]);
  });
});

describe('an answer that comes before the whole request body', () => {
  /** An app that answers 413 at once, without reading the body (Node's server then reads it on itself). */
  const early413 = () =>
    app((_req, res) => {
      res.writeHead(413, { 'content-type': 'text/plain', 'content-length': '4' });
      res.end('big!');
    });
  const TOO_LARGE = /^HTTP\/1\.1 413 [\s\S]*\r\n\r\nbig!$/;
  const BOUNDS = { lingerTimeMs: 500, lingerTimeoutMs: 60_000 };

  it("closes the connection after lingerTime in all when the app's answer came first, however steadily the client sends", {
    timeout: 30_000,
  }, async () => {
    // Before, the sidecar sent the rest on to the app (reading it on) for as long as the client sent.
    const { port } = await early413();
    const side = await inbound(port, BOUNDS);
    const out = await outbound([port], BOUNDS);
    for (const to of [side.ingress, out.port])
      expect(await sendOnAfterAnswer(to, 10, TOO_LARGE)).toMatchObject({ closed: true });
  });

  it('closes the connection after lingerTime in all after its own 503 to a body it did not read', {
    timeout: 30_000,
  }, async () => {
    // No instance of the peer is ready: the outbound answered before reading a chunked body, and Node's
    // server read the rest with no limit.
    const out = await outbound([], BOUNDS);
    const reply = await sendOnAfterAnswer(out.port, 10, /^HTTP\/1\.1 503 [\s\S]*no instance of api is ready/);
    expect(reply).toMatchObject({ closed: true });
  });

  it('answers 408 and closes when the body stops arriving while its not-forwarded 503 waits for it', {
    timeout: 30_000,
  }, async () => {
    // The app is gone: the 503 waits for the body's end (or 64 KiB), with no idle timer before, and a
    // client that stopped sending held the connection for ever.
    const { server, port } = await app();
    const side = await inbound(port, { bodyTimeoutMs: 200 });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    const socket = net.connect(side.ingress, '127.0.0.1');
    closers.push(() => void socket.destroy());
    const state = { got: '', closed: false };
    socket.on('data', (d) => (state.got += d));
    socket.on('error', () => {});
    socket.on('close', () => (state.closed = true));
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await waitFor(() => state.closed, 20_000);
    expect(state).toMatchObject({ closed: true });
    expect(state.got).toMatch(/^HTTP\/1\.1 408 [\s\S]*the request body stopped arriving/);
  });

  it('keeps the connection of a client whose body ends in time, and answers its next request', async () => {
    const { port } = await early413();
    // The default bounds (30 s, 5 s between reads): short ones would leave a loaded machine little room.
    const side = await inbound(port);
    const socket = net.connect(side.ingress, '127.0.0.1');
    closers.push(() => void socket.destroy());
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    expect(await waitFor(() => TOO_LARGE.test(got))).toBe(true);
    got = '';
    socket.write('0\r\n\r\nPOST /again HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    expect(await waitFor(() => TOO_LARGE.test(got))).toBe(true);
  });
});
