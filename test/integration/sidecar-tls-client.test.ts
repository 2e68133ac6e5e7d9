// The client side of the sidecars' mutual TLS (createUpstreamPool with meshConnectOptions, as outbound.ts
// uses it) against a real mesh server (serverOptions): requests without a body go over msup's lean client
// on TLS, one connection kept alive for the next; a body goes through undici, which a process loads only
// then; the client refuses a peer whose certificate is of another CA or names another service, and a
// peer refuses a client certificate of another CA, each before any request reaches the app. A refused
// peer certificate is a 'connect' failure (nothing was sent): the outbound listener sends even a POST to
// another peer then, but not after a TLS error that came once the request was out. A sidecar whose app
// refused the connection answers 503 with x-msup-not-forwarded: a failed connect for the caller too.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUpstreamPool, type UpstreamPool } from '../../src/proxy/upstream-pool.js';
import { MeshCa } from '../../src/runtime/sidecar/ca.js';
import { type SendError, send } from '../../src/sidecar/forward.js';
import { Inbound } from '../../src/sidecar/inbound.js';
import type { SidecarSettings, TlsMaterial } from '../../src/sidecar/messages.js';
import { GoldenMetrics } from '../../src/sidecar/metrics.js';
import { Outbound } from '../../src/sidecar/outbound.js';
import { meshConnectOptions, meshIdentity, serverOptions } from '../../src/sidecar/tls.js';
import { freePort, request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { REPO } from '../helpers/project.js';

const PROJECT = 'tls-client-test';
const TRUST = `spiffe://msup.local/${PROJECT}/`;
let dir: string;
let ca: MeshCa;
let stranger: MeshCa;
const material = async (from: MeshCa, service: string, trusted = ca): Promise<TlsMaterial> => {
  const issued = await from.issue(service, 3_600_000);
  return { ca: trusted.pem, cert: issued.cert, key: issued.key };
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'msup-tls-client-'));
  ca = await MeshCa.open(path.join(dir, 'ca'), PROJECT);
  stranger = await MeshCa.open(path.join(dir, 'other-ca'), PROJECT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A mesh port: the caller's identity and the request's body echoed; TLS connections and requests counted. */
async function meshServer(tls: TlsMaterial) {
  const seen = { connections: 0, requests: 0 };
  const server = https.createServer(serverOptions(tls), (req, res) => {
    seen.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const caller = meshIdentity((req.socket as import('node:tls').TLSSocket).getPeerCertificate(), TRUST);
      res.end(JSON.stringify({ caller, method: req.method, body: Buffer.concat(chunks).toString() }));
    });
  });
  server.on('secureConnection', () => seen.connections++);
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, seen };
}

/**
 * A mesh port behind a TCP relay that, once a request reached the app, sends the client a TLS record no
 * key decrypts (a connection corrupted on the way): the client fails with an ERR_SSL_ code after its
 * request went out. The app never answers.
 */
async function corruptingPeer(tls: TlsMaterial) {
  const seen = { requests: 0 };
  const relayed = new Set<net.Socket>();
  const record = Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), Buffer.alloc(32, 7)]);
  const server = https.createServer(serverOptions(tls), () => {
    seen.requests++;
    for (const socket of relayed) socket.write(record);
  });
  const relay = net.createServer((client) => {
    relayed.add(client);
    const upstream = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => {
      relayed.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
    () =>
      new Promise((resolve) => {
        for (const socket of relayed) socket.destroy();
        relay.close(resolve);
      }),
  );
  return { port: (relay.address() as net.AddressInfo).port, seen };
}

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

/**
 * An outbound listener (as the sidecar runs one per peer service) to api's instances at `ports`, over
 * mTLS as web. Its randomness is pinned: a request goes to the first instance it has not tried.
 */
async function outbound(ports: number[], tls: TlsMaterial) {
  const metrics = new GoldenMetrics(Date.now);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const listener = new Outbound({
      peer: 'api',
      host: '127.0.0.1',
      port,
      identity: `${TRUST}api`,
      settings: SETTINGS,
      tls,
      metrics,
      now: Date.now,
      random: () => 0,
    });
    try {
      await listener.listen();
    } catch (error) {
      // Taken between freePort and listen by another process: another one.
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 5) continue;
      throw error;
    }
    closers.push(async () => listener.close());
    listener.setEndpoints(ports.map((p) => ({ host: '127.0.0.1', port: p, tls: true })));
    const total = (field: 'requests' | 'retries') =>
      metrics.snapshot().reduce((sum, series) => sum + series[field], 0);
    return {
      url: `http://127.0.0.1:${port}/x`,
      requests: () => total('requests'),
      retries: () => total('retries'),
    };
  }
}

function pool(port: number, tls: TlsMaterial, identity: string): UpstreamPool {
  const p = createUpstreamPool('127.0.0.1', port, meshConnectOptions(tls, identity));
  closers.push(() => p.destroy());
  return p;
}

/** One request: its status and body, or how it failed. */
async function call(p: UpstreamPool, method = 'GET', body: Buffer | null = null) {
  try {
    const answer = await send(p, { method, path: '/x', headers: [], body, timeoutMs: 5000 });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      });
      sink.on('finish', resolve);
      sink.on('error', reject);
      answer.pipeTo(sink as never);
    });
    return { status: answer.status, body: JSON.parse(Buffer.concat(chunks).toString()) };
  } catch (error) {
    return { failure: (error as SendError).failure, message: (error as Error).message };
  }
}

describe('the mesh client over mutual TLS', () => {
  it('carries requests without a body on one kept-alive TLS connection, and bodies too, the caller named', async () => {
    const apiId = `${TRUST}api`;
    const server = await meshServer(await material(ca, 'api'));
    const p = pool(server.port, await material(ca, 'web'), apiId);
    for (let i = 0; i < 3; i++) {
      expect(await call(p)).toEqual({
        status: 200,
        body: { caller: `${TRUST}web`, method: 'GET', body: '' },
      });
    }
    expect(server.seen).toEqual({ connections: 1, requests: 3 });
    expect(await call(p, 'POST', Buffer.from('a body'))).toEqual({
      status: 200,
      body: { caller: `${TRUST}web`, method: 'POST', body: 'a body' },
    });
    expect(server.seen.requests).toBe(4);
  });

  it('refuses a peer of another CA or of another identity, and is refused with a certificate of another CA', async () => {
    const apiId = `${TRUST}api`;
    // The peer's certificate is of another CA (its chain does not verify): OpenSSL's code, no ERR_TLS
    // prefix; the handshake failed, nothing was sent.
    const foreign = await meshServer(await material(stranger, 'api', stranger));
    const toForeign = await call(pool(foreign.port, await material(ca, 'web'), apiId));
    // The peer's certificate is of this CA but names another service.
    const other = await meshServer(await material(ca, 'billing'));
    const toOther = await call(pool(other.port, await material(ca, 'web'), apiId));
    // This client's certificate is of another CA: the peer refuses the handshake.
    const api = await meshServer(await material(ca, 'api'));
    const refused = await call(pool(api.port, await material(stranger, 'web'), apiId));
    expect(toForeign).toEqual({ failure: 'connect', message: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(toOther).toEqual({
      failure: 'connect',
      message: `the peer's certificate does not name ${apiId} (it names ${TRUST}billing)`,
    });
    // TLS 1.3: the client's handshake is done when the peer checks its certificate, and the peer closes
    // (undici said UND_ERR_SOCKET, the lean client MSUP_UPSTREAM_CLOSED or ECONNRESET): 'reset', as before.
    expect(refused).toMatchObject({ failure: 'reset' });
    // No request reached an app.
    expect([foreign.seen.requests, other.seen.requests, api.seen.requests]).toEqual([0, 0, 0]);
  });

  it('loads undici only for a request with a body (a process of the built sidecar modules)', {
    timeout: 30_000,
  }, async () => {
    const server = await meshServer(await material(ca, 'api'));
    const tls = await material(ca, 'web');
    const dist = (file: string) => JSON.stringify(path.join(REPO, 'dist', file));
    // The sidecar's modules, then GETs and a POST over mTLS, noting whether undici is loaded at each step.
    const script = `
      import { createRequire } from 'node:module';
      import { Writable } from 'node:stream';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/undici/'));
      await import(${dist('sidecar/inbound.js')});
      await import(${dist('sidecar/outbound.js')});
      const { createUpstreamPool } = await import(${dist('proxy/upstream-pool.js')});
      const { send } = await import(${dist('sidecar/forward.js')});
      const { meshConnectOptions } = await import(${dist('sidecar/tls.js')});
      const steps = { atStart: loaded() };
      const pool = createUpstreamPool('127.0.0.1', ${server.port}, meshConnectOptions(JSON.parse(process.env.TLS), ${JSON.stringify(`${TRUST}api`)}));
      const call = async (method, body) => {
        const answer = await send(pool, { method, path: '/', headers: [], body, timeoutMs: 5000 });
        await new Promise((resolve) => answer.pipeTo(new Writable({ write: (c, e, done) => done() }).on('finish', resolve)));
        return answer.status;
      };
      steps.gets = [await call('GET', null), await call('HEAD', null)];
      steps.afterGets = loaded();
      steps.post = await call('POST', Buffer.from('x'));
      steps.afterPost = loaded();
      await pool.destroy();
      process.stdout.write(JSON.stringify(steps));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { env: { ...process.env, TLS: JSON.stringify(tls) }, timeout: 20_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    expect(JSON.parse(out)).toEqual({
      atStart: false,
      gets: [200, 200],
      afterGets: false,
      post: 200,
      afterPost: true,
    });
    expect(server.seen.requests).toBe(3);
  });
});

describe("the outbound listener's retries after a TLS failure", () => {
  it('sends a POST refused at the handshake (a peer certificate of another CA) to another peer', async () => {
    const foreign = await meshServer(await material(stranger, 'api', stranger));
    const api = await meshServer(await material(ca, 'api'));
    const o = await outbound([foreign.port, api.port], await material(ca, 'web'));
    // With a body (through undici) and without one (the lean client), each tried on the foreign peer first.
    const withBody = await request(o.url, { method: 'POST', body: 'a body' });
    const empty = await request(o.url, { method: 'POST' });
    expect([withBody.status, JSON.parse(withBody.body)]).toEqual([
      200,
      { caller: `${TRUST}web`, method: 'POST', body: 'a body' },
    ]);
    expect([empty.status, JSON.parse(empty.body)]).toEqual([
      200,
      { caller: `${TRUST}web`, method: 'POST', body: '' },
    ]);
    expect([foreign.seen.requests, api.seen.requests]).toEqual([0, 2]);
    await waitFor(() => o.requests() === 2);
    expect(o.retries()).toBe(2);
  });

  it('does not send a POST again after a TLS error that came once it was out, and sends a GET again', async () => {
    const corrupting = await corruptingPeer(await material(ca, 'api'));
    const api = await meshServer(await material(ca, 'api'));
    const web = await material(ca, 'web');
    // An ERR_SSL_ code, but after the request went out: 'reset', not 'connect'.
    expect(await call(pool(corrupting.port, web, `${TRUST}api`))).toEqual({
      failure: 'reset',
      message: 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC',
    });
    const o = await outbound([corrupting.port, api.port], web);
    const post = await request(o.url, { method: 'POST' });
    expect(post.status).toBe(502);
    expect(post.body).toContain('ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC');
    // The app got the POST (it may have acted on it); it went nowhere else.
    expect([corrupting.seen.requests, api.seen.requests]).toEqual([2, 0]);
    const get = await request(o.url);
    expect(get.status).toBe(200);
    expect([corrupting.seen.requests, api.seen.requests]).toEqual([3, 1]);
    await waitFor(() => o.requests() === 2);
    expect(o.retries()).toBe(1);
  });
});

/**
 * A sidecar's inbound side (as main.ts runs it) in front of an app that answers with `handler`, open;
 * `stop` closes the app (and its connections) as a process that died would.
 */
async function sidecar(tls: TlsMaterial, handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  closers.push(() => (server.listening ? stop() : Promise.resolve()));
  const ports = { ingress: await freePort(), mesh: await freePort() };
  const inbound = new Inbound({
    host: '127.0.0.1',
    ingressPort: ports.ingress,
    meshPort: ports.mesh,
    mode: 'http',
    mtls: 'strict',
    trustPrefix: TRUST,
    tls,
    metrics: new GoldenMetrics(Date.now),
    log: () => {},
  });
  closers.push(async () => inbound.close());
  await inbound.open({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  return { ...ports, stop };
}

/** An app that answers with the request's method and body, and says x-msup-not-forwarded itself. */
const echoing: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    res.writeHead(200, { 'x-msup-not-forwarded': '1' });
    res.end(JSON.stringify({ method: req.method, body: Buffer.concat(chunks).toString() }));
  });
};

describe("a sidecar's app that refuses the connection", () => {
  it('is answered 503 with x-msup-not-forwarded and connection: close by the inbound side, whatever the method', async () => {
    const dying = await sidecar(await material(ca, 'api'), echoing);
    const url = `http://127.0.0.1:${dying.ingress}/`;
    // Alive: the app's own x-msup-not-forwarded does not pass (only the sidecar may say that).
    const alive = await request(url, { method: 'POST', body: 'x' });
    expect([alive.status, alive.headers['x-msup-not-forwarded']]).toEqual([200, undefined]);
    await dying.stop();
    for (const body of [undefined, 'a body', 'b'.repeat(100_000)]) {
      const reply = await request(url, { method: body ? 'POST' : 'GET', ...(body && { body }) });
      expect(reply.status).toBe(503);
      expect(reply.headers['x-msup-not-forwarded']).toBe('1');
      expect(reply.headers.connection).toBe('close');
    }
  });

  it("is a failed connect for a peer's outbound side: a POST goes to another instance, the header to no app", async () => {
    const api = await material(ca, 'api');
    const gone = await sidecar(api, echoing);
    await gone.stop();
    const live = await sidecar(api, echoing);
    // Pinned randomness: each request goes to the instance whose app is gone first.
    const o = await outbound([gone.mesh, live.mesh], await material(ca, 'web'));
    for (const body of ['a body', undefined]) {
      const reply = await request(o.url, { method: 'POST', ...(body && { body }) });
      expect([reply.status, JSON.parse(reply.body)]).toEqual([200, { method: 'POST', body: body ?? '' }]);
      expect(reply.headers['x-msup-not-forwarded']).toBeUndefined();
    }
    await waitFor(() => o.requests() === 2);
    expect(o.retries()).toBe(2);
  });

  it("is answered 502 by a peer's outbound side when no instance is left, without the header", async () => {
    const gone = await sidecar(await material(ca, 'api'), echoing);
    await gone.stop();
    const o = await outbound([gone.mesh], await material(ca, 'web'));
    const reply = await request(o.url, { method: 'POST', body: 'a body' });
    expect(reply.status).toBe(502);
    expect(reply.body).toContain('its sidecar could not reach the app');
    expect(reply.headers['x-msup-not-forwarded']).toBeUndefined();
  });
});
