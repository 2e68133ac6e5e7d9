// The sidecar runtime under the real supervisor: calls between services go through both sidecars over
// mutual TLS, keep one trace id, are counted exactly, and are retried and ejected as configured.
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isAlive } from '../../src/runtime/proc.js';
import { MeshCa } from '../../src/runtime/sidecar/ca.js';
import { spiffeId } from '../../src/runtime/sidecar/identity.js';
import { projectId } from '../../src/runtimes.js';
import type { LogRecord, ServiceConfig } from '../../src/types.js';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/processes.js';
import { node, type Project, useProject } from '../helpers/project.js';
import { inboundCount, meshGet, sidecarOf } from '../helpers/sidecar.js';

const project = useProject();

const echo = (over: Partial<ServiceConfig> = {}): ServiceConfig => ({
  command: node('echo-server.js'),
  port: 0,
  health: { http: '/health', interval: '200ms' },
  ...over,
});

interface CallReply {
  service: string;
  via: string;
  headers: Record<string, string>;
  called: {
    status: number;
    body: { service: string; instance: number; headers: Record<string, string> } | string;
  };
}

/** Starts, under the sidecar runtime, a service `name` whose app is `source` (an ES module listening on PORT). */
async function startApp(p: Project, name: string, source: string) {
  p.write(`${name}.mjs`, source);
  return p.start({
    runtime: 'sidecar',
    config: p.config({ [name]: { command: [process.execPath, `${name}.mjs`], port: 0 } }),
  });
}

async function call(url: string, headers: Record<string, string> = {}) {
  const reply = await request(url, { headers });
  return {
    status: reply.status,
    body: reply.status === 200 || reply.status === 502 ? (JSON.parse(reply.body) as CallReply) : null,
    raw: reply.body,
  };
}

/** The serial number of the certificate a mesh port shows now. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

const traceId = (traceparent: string | undefined) => traceparent?.split('-')[1];
const spanId = (traceparent: string | undefined) => traceparent?.split('-')[2];

describe('sidecar runtime', () => {
  it('carries a call from web to api through both sidecars over mTLS, with one trace id and the caller named', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ web: echo(), api: echo({ instances: 2 }) }),
    });
    const web = sidecarOf(sup, 'web');
    const sent = `00-${'a1'.repeat(16)}-${'b2'.repeat(8)}-01`;
    const { status, body } = await call(`${sup.url('web')}/call/api/hello`, { traceparent: sent });
    expect(status).toBe(200);
    // The app called its own sidecar's outbound listener, not api's front.
    expect(body?.via).toBe(`http://127.0.0.1:${web.sidecar.ports.outbound.api}`);
    const api = body?.called.body as Exclude<CallReply['called']['body'], string>;
    expect(api.service).toBe('api');
    // One trace across both hops, a new span at each sidecar.
    expect(traceId(body?.headers.traceparent)).toBe('a1'.repeat(16));
    expect(traceId(api.headers.traceparent)).toBe('a1'.repeat(16));
    expect(
      new Set([spanId(sent), spanId(body?.headers.traceparent), spanId(api.headers.traceparent)]).size,
    ).toBe(3);
    // The api sidecar read web's identity from its client certificate.
    expect(api.headers['x-msup-client-id']).toBe(spiffeId(projectId(p.root), 'web'));
    // A client of the plain ingress cannot claim an identity.
    const forged = await request(`${sup.url('api')}/`, {
      headers: { 'x-msup-client-id': 'spiffe://msup.local/x/admin' },
    });
    expect(JSON.parse(forged.body).headers['x-msup-client-id']).toBeUndefined();

    // Bodies pass both ways: through the ingress, and through an outbound listener (kept for a retry).
    const posted = await request(`${sup.url('api')}/in`, { method: 'POST', body: 'to the ingress' });
    expect(JSON.parse(posted.body)).toMatchObject({ method: 'POST', body: 'to the ingress' });
    const outbound = `http://127.0.0.1:${web.sidecar.ports.outbound.api}`;
    const sentOn = await request(`${outbound}/out`, { method: 'PUT', body: 'through the mesh' });
    expect(JSON.parse(sentOn.body)).toMatchObject({
      service: 'api',
      method: 'PUT',
      body: 'through the mesh',
    });

    // Without a traceparent, the first sidecar starts a trace that the second continues.
    const fresh = await call(`${sup.url('web')}/call/api/hello`);
    const freshApi = fresh.body?.called.body as Exclude<CallReply['called']['body'], string>;
    expect(traceId(fresh.body?.headers.traceparent)).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId(freshApi.headers.traceparent)).toBe(traceId(fresh.body?.headers.traceparent));
  });

  it('counts exactly the requests sent, per route, on both sides of the call', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ web: echo(), api: echo({ instances: 2 }) }),
    });
    const n = 25;
    for (let i = 0; i < n; i++) expect((await call(`${sup.url('web')}/call/api/counted`)).status).toBe(200);
    const outbound = () => sidecarOf(sup, 'web').metrics.outbound.api?.['/counted']?.requests ?? 0;
    // Metrics arrive about once a second: wait until they cover the requests, then they must match exactly.
    expect(await waitFor(() => outbound() >= n && inboundCount(sup, 'api', '/counted') >= n, 10_000)).toBe(
      true,
    );
    expect(outbound()).toBe(n);
    expect(inboundCount(sup, 'api', '/counted')).toBe(n);
    expect(inboundCount(sup, 'web', '/call')).toBe(n);
    const summary = sidecarOf(sup, 'web').metrics.outbound.api?.['/counted'];
    expect(summary?.successRate).toBe(1);
    expect(summary?.p50Ms).toBeGreaterThan(0);
    expect(summary?.p99Ms).toBeGreaterThanOrEqual(summary?.p50Ms ?? 0);
  });

  it('refuses a client without a mesh certificate on the mesh port, and keeps its CA private', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({ runtime: 'sidecar', config: p.config({ api: echo() }) });
    const mesh = sidecarOf(sup, 'api').sidecar.ports.mesh;
    // No certificate: the handshake is refused.
    expect(await meshGet(mesh, '/')).toHaveProperty('error');
    // Plain HTTP on the mesh port: no answer (the TLS server listens itself: a first-byte check in front of
    // it would put every mesh connection on a JS stream).
    await expect(request(`http://127.0.0.1:${mesh}/`)).rejects.toThrow();
    // A certificate from another CA: refused.
    const other = await MeshCa.open(path.join(p.root, 'other-ca'), projectId(p.root));
    const stranger = await other.issue('web', 60_000);
    expect(await meshGet(mesh, '/', { cert: stranger.cert, key: stranger.key })).toHaveProperty('error');
    // A certificate of this project's CA: answered (so the refusals above were about the certificate).
    const own = await MeshCa.open(path.join(p.root, '.msup', 'mesh'), projectId(p.root));
    const member = await own.issue('web', 60_000);
    const answered = await meshGet(mesh, '/hello', { cert: member.cert, key: member.key });
    expect(answered).toMatchObject({ status: 200 });
    expect(JSON.parse((answered as { body: string }).body).headers['x-msup-client-id']).toBe(
      spiffeId(projectId(p.root), 'web'),
    );
    const mode = (file: string) => statSync(path.join(p.root, '.msup', 'mesh', file)).mode & 0o777;
    expect([mode('.'), mode('ca.key'), mode('ca.crt')]).toEqual([0o700, 0o600, 0o600]);
  });

  it("makes a new CA, and says so, when ca.key is not ca.crt's key (calls between sidecars work)", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const dir = path.join(p.root, '.msup', 'mesh');
    await MeshCa.open(dir, projectId(p.root));
    // Another P-256 key in place of the CA's: every certificate it signs would fail its check.
    const stray = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(path.join(dir, 'ca.key'), stray.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const sup = p.create({ runtime: 'sidecar', config: p.config({ web: echo(), api: echo() }) });
    const logs: LogRecord[] = [];
    sup.on('log', (record) => logs.push(record));
    await sup.start();
    const { status, raw } = await call(`${sup.url('web')}/call/api/hello`);
    expect(status, raw).toBe(200);
    expect((await call(`${sup.url('web')}/call/api/hello`)).body?.called.status).toBe(200);
    expect(logs.filter((r) => r.msg.includes('mesh CA'))).toMatchObject([
      { level: 'warn', msg: 'the mesh CA could not be used (ca.key does not match ca.crt): made a new one' },
    ]);
    const saved = new X509Certificate(readFileSync(path.join(dir, 'ca.crt')));
    expect(saved.checkPrivateKey(createPrivateKey(readFileSync(path.join(dir, 'ca.key'))))).toBe(true);
  });

  it("takes plain text on the mesh port only where mtls is 'permissive'", { timeout: 60_000 }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ api: echo({ runtime: { sidecar: { mtls: 'permissive' } } }) }),
    });
    const { ports, pid } = sidecarOf(sup, 'api').sidecar;
    const mesh = ports.mesh;
    // A connection reset before its first byte (a port scan, a client with SO_LINGER 0) ends only itself.
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(mesh, '127.0.0.1', () => {
          socket.resetAndDestroy();
          resolve();
        });
        socket.once('error', reject);
      });
    }
    expect((await request(`http://127.0.0.1:${mesh}/plain`)).status).toBe(200);
    expect((await request(`http://127.0.0.1:${mesh}/plain`)).status).toBe(200);
    expect(sidecarOf(sup, 'api').sidecar.pid).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    // TLS on the same port still needs a certificate of the mesh.
    expect(await meshGet(mesh, '/')).toHaveProperty('error');
    const member = await (await MeshCa.open(path.join(p.root, '.msup', 'mesh'), projectId(p.root))).issue(
      'web',
      60_000,
    );
    expect(await meshGet(mesh, '/tls', { cert: member.cert, key: member.key })).toMatchObject({
      status: 200,
    });
  });

  it('recovers injected 503s by retries within the budget, and stops retrying past it', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sidecar = { retries: 2, retryBudget: 0.2, minRetriesPerSecond: 0, breaker: false as const };
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ web: echo({ sidecar }), api: echo() }),
    });
    // Every 10th request fails: 10% needs retries, within the 20% budget. Every one is recovered.
    const n = 50;
    for (let i = 0; i < n; i++) {
      const { body } = await call(`${sup.url('web')}/call/api/fail?every=10`);
      expect(body?.called.status).toBe(200);
    }
    expect(await waitFor(() => inboundCount(sup, 'api', '/fail') >= n + 5, 10_000)).toBe(true);
    expect(inboundCount(sup, 'api', '/fail')).toBe(n + 5);

    // Every 2nd request fails: retries would double the load; the budget holds them to 20% of the calls.
    let failed = 0;
    for (let i = 0; i < n; i++) {
      const { body } = await call(`${sup.url('web')}/call/api/fail?every=2`);
      if (body?.called.status === 503) failed++;
    }
    const outbound = () => sidecarOf(sup, 'web').metrics.outbound.api?.['/fail'];
    expect(await waitFor(() => (outbound()?.requests ?? 0) >= 2 * n, 10_000)).toBe(true);
    const retries = outbound()?.retries ?? 0;
    expect(failed).toBeGreaterThan(0);
    expect(retries).toBeGreaterThan(5);
    expect(retries).toBeLessThanOrEqual(0.2 * 2 * n);
    // Each retry recovered a 503: api saw every call once, plus every retry.
    expect(await waitFor(() => inboundCount(sup, 'api', '/fail') >= 2 * n + retries, 10_000)).toBe(true);
    expect(inboundCount(sup, 'api', '/fail')).toBe(2 * n + retries);
    expect(outbound()?.successRate).toBe((2 * n - failed) / (2 * n));
  });

  it('ejects an instance that keeps failing after the configured failures in a row', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sidecar = {
      retries: 0,
      balancing: 'least-request' as const,
      breaker: { failures: 3, ejection: '60s' },
    };
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ web: echo({ sidecar }), api: echo({ instances: 2 }) }),
    });
    let failures = 0;
    for (let i = 0; i < 40; i++) {
      const { body } = await call(`${sup.url('web')}/call/api/fail?instance=0`);
      if (body?.called.status !== 200) failures++;
    }
    // Three failures open api#0's breaker; the other 37 calls all go to api#1.
    expect(failures).toBe(3);
  });

  it('renews certificates under load without dropping a request', { timeout: 60_000 }, async () => {
    const p = project();
    // Renewed every 3 s (half the lifetime), so a renewal delivered late on a loaded machine still comes
    // before the old certificate expires; no retries, so a dropped request would show.
    const sidecar = { certLifetime: '6s', retries: 0 };
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({ web: echo({ sidecar }), api: echo({ instances: 2, sidecar }) }),
    });
    const mesh = sidecarOf(sup, 'api').sidecar.ports.mesh;
    const serials = new Set([await servedSerial(mesh)]);
    const load = startLoad(sup.url('web'), { clients: 4, path: '/call/api/load' });
    expect(
      await waitFor(
        async () => {
          serials.add(await servedSerial(mesh));
          return serials.size >= 3;
        },
        30_000,
        200,
      ),
    ).toBe(true);
    const result = await load.stop();
    expect(result.failed).toEqual([]);
    expect(result.ok).toBeGreaterThan(100);
  });

  it('cuts the answer whose body is malformed in the same read as its head, instead of hanging', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    // Its head and an invalid chunk size in one write.
    const sup = await startApp(
      p,
      'bad',
      `import net from 'node:net';
net.createServer((socket) => {
  socket.once('data', () => socket.end('HTTP/1.1 200 OK\\r\\ntransfer-encoding: chunked\\r\\n\\r\\nzz\\r\\nbad\\r\\n'));
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    const ingress = sidecarOf(sup, 'bad').sidecar.ports.ingress;
    const outcome = await request(`http://127.0.0.1:${ingress}/`, {}).then(
      (reply) => `answered ${reply.status}`,
      (error: Error) => `cut: ${error.message}`,
    );
    expect(outcome).toMatch(/^cut: |^answered 502$/);
  });

  it('passes WebSocket upgrades through the ingress to the app', { timeout: 60_000 }, async () => {
    const p = project();
    const sup = await p.start({ runtime: 'sidecar', config: p.config({ web: echo() }) });
    const socket = new WebSocket(sup.url('web').replace('http:', 'ws:'));
    const answer = await new Promise<string>((resolve, reject) => {
      socket.once('open', () => socket.send('hello'));
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    socket.close();
    expect(answer).toBe('web#0: hello');
  });

  it('closes a connection whose upgrade the app declined: no tunnel past the head checks', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    // An app without WebSocket: it answers an upgrade as a plain request, and keeps the connection.
    const sup = await startApp(
      p,
      'plain',
      `import http from 'node:http';
http.createServer((req, res) => res.end(JSON.stringify(req.headers))).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    const ingress = sidecarOf(sup, 'plain').sidecar.ports.ingress;
    const declined = 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const forged =
      'GET /whoami HTTP/1.1\r\nHost: a\r\nx-msup-client-id: spiffe://msup.local/forged/billing\r\n\r\n';
    let timedOut = false;
    const reply = await new Promise<string>((resolve) => {
      // Its side stays open: the sidecar has to close the connection itself.
      const socket = net.connect({ port: ingress, host: '127.0.0.1', allowHalfOpen: true }, () =>
        socket.write(declined),
      );
      let text = '';
      let sent = false;
      socket.on('data', (d) => {
        text += d;
        // The app's answer to the declined upgrade is in: the next request on the same connection.
        if (!sent && text.includes('websocket')) {
          sent = true;
          if (socket.writable) socket.write(forged);
        }
      });
      // The sidecar ended its side. A socket it still held would take more bytes; a closed one resets.
      socket.on('end', () => {
        const poke = setInterval(() => socket.writable && socket.write('x'), 50);
        socket.once('close', () => clearInterval(poke));
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(text));
      setTimeout(() => {
        timedOut = true;
        socket.destroy();
      }, 10_000).unref();
    });
    expect(timedOut).toBe(false);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    // Before, the connection stayed a byte pipe to the app after its answer: the second request reached it
    // with the forged id.
    expect(reply).not.toMatch(/forged/);
    // An upgrade with a body is not passed on.
    const withBody = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(ingress, '127.0.0.1', () =>
        socket.write(
          'POST /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello',
        ),
      );
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(withBody).toMatch(/^HTTP\/1\.1 501 /);
  });

  it('gives the app its NODE_OPTIONS, and the sidecar none of them', { timeout: 60_000 }, async () => {
    const p = project();
    // Each Node process that loads it writes down which program it runs.
    p.write(
      'mark.cjs',
      "require('node:fs').appendFileSync(__dirname + '/marks', process.argv[1] + '\\n');\n",
    );
    const sup = await p.start({
      runtime: 'sidecar',
      config: p.config({
        web: echo({ env: { NODE_OPTIONS: `--require ${path.join(p.root, 'mark.cjs')}` } }),
      }),
    });
    expect((await request(sup.url('web'))).status).toBe(200);
    const marks = readFileSync(path.join(p.root, 'marks'), 'utf8').trim().split('\n');
    expect(marks).toEqual([expect.stringMatching(/echo-server\.js$/)]);
  });

  it("passes on a reason phrase the sidecar's client cannot decode, and stays up", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await startApp(
      p,
      'made',
      `import http from 'node:http';
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.statusMessage = 'Cr\u00e9\u00e9';
    res.writeHead(201);
    res.end('made');
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    const pid = sup.instances('made')[0]?.pid;
    // A body: through undici, which decodes the reason as UTF-8 (the throw ended the sidecar).
    const posted = await request(`${sup.url('made')}/`, { method: 'POST', body: 'x' });
    expect(posted).toMatchObject({ status: 201, body: 'made' });
    expect((await request(`${sup.url('made')}/`)).status).toBe(201);
    expect(sup.instances('made')[0]).toMatchObject({ pid, restarts: 0 });
  });

  it('sends a GET again on a new connection when the app closed the reused one before answering', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    // The app answers the first request on each connection and closes the connection at the second
    // without a word: an app closing an idle connection just as the sidecar reuses it.
    const sup = await startApp(
      p,
      'closing',
      `import net from 'node:net';
net.createServer((socket) => {
  let count = 0;
  let buffered = '';
  socket.on('data', (d) => {
    buffered += d.toString('latin1');
    while (buffered.includes('\\r\\n\\r\\n')) {
      buffered = buffered.slice(buffered.indexOf('\\r\\n\\r\\n') + 4);
      if (++count > 1) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok');
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    // Straight to the sidecar, a new client connection each time: the front's own retry plays no part.
    const ingress = `http://127.0.0.1:${sidecarOf(sup, 'closing').sidecar.ports.ingress}/`;
    for (let i = 0; i < 3; i++) expect(await request(ingress)).toMatchObject({ status: 200, body: 'ok' });
  });

  it("closes the connection of a client that goes quiet after the app's early answer (the built sidecar bounds it)", {
    timeout: 60_000,
  }, async () => {
    const p = project();
    // A 413 before the body is read; Node's server then reads the rest on itself.
    const sup = await startApp(
      p,
      'strict',
      `import http from 'node:http';
http.createServer((req, res) => {
  res.writeHead(413, { 'content-length': '4' });
  res.end('big!');
}).listen(Number(process.env.PORT), '127.0.0.1');
`,
    );
    // Straight to the sidecar (msup's front bounds its own clients): the sidecar program msup runs,
    // with its default bounds: LINGER_TIMEOUT_MS (5 s) without a byte, then the connection closes.
    const socket = net.connect(sidecarOf(sup, 'strict').sidecar.ports.ingress, '127.0.0.1');
    const state = { got: '', closed: false };
    try {
      socket.on('data', (d) => (state.got += d));
      socket.on('error', () => {});
      socket.on('close', () => (state.closed = true));
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      expect(await waitFor(() => /^HTTP\/1\.1 413 [\s\S]*\r\n\r\nbig!$/.test(state.got))).toBe(true);
      // Before, it stayed open (the keep-alive timer, 65 s, was the only bound).
      expect(await waitFor(() => state.closed, 30_000)).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it('gives an upgrade the headers a request gets: no client id from outside, a trace continued', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({ runtime: 'sidecar', config: p.config({ web: echo() }) });
    const incoming = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const socket = new WebSocket(sup.url('web').replace('http:', 'ws:'), {
      headers: { 'x-msup-client-id': 'spiffe://msup.local/forged/billing', traceparent: incoming },
    });
    const headers = await new Promise<Record<string, string>>((resolve, reject) => {
      socket.once('open', () => socket.send('headers'));
      socket.once('message', (data) => resolve(JSON.parse(String(data))));
      socket.once('error', reject);
    });
    socket.close();
    expect(headers['x-msup-client-id']).toBeUndefined();
    expect(headers.upgrade).toBe('websocket');
    // The same trace, a span of the sidecar's own.
    expect(headers.traceparent).toMatch(
      new RegExp(`^00-${'ab'.repeat(16)}-(?!${'cd'.repeat(8)})[0-9a-f]{16}-01$`),
    );
  });
});
