// The admin listener on a real supervisor: /metrics accepted by promtool and counting exactly the
// requests sent through the proxy; actions that need the token, the listener's own origin and Host, each
// logged; the event stream (state for anyone, log lines only with the token); when it opens at all.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Admission, ConnectionRoom } from '../../src/admin/connections.js';
import type { DashboardService, DashboardState } from '../../src/admin/dashboard-state.js';
import {
  EventFeed,
  FEED_LINE_CHARS,
  MAX_VIEWERS_WITH_TOKEN,
  MAX_VIEWERS_WITHOUT_TOKEN,
  outputLine,
} from '../../src/admin/events.js';
import { ADMIN_MAX_CONNECTIONS } from '../../src/admin/server.js';
import type { LogRecord, Supervisor } from '../../src/index.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, REPO, useProject } from '../helpers/project.js';
import { promtool } from '../helpers/tools.js';

const project = useProject();
const PROMTOOL = promtool();

function admin(sup: Supervisor): { url: string; token: string; host: string } {
  const dashboard = sup.adminUrl();
  if (!dashboard) throw new Error('no admin listener');
  const url = new URL(dashboard);
  return {
    url: `${url.origin}/`,
    token: new URLSearchParams(url.hash.slice(1)).get('token') ?? '',
    host: url.host,
  };
}

/** The value of every sample of `name` whose labels include `labels`, summed. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => (match[2] ?? '').includes(`${k}="${v}"`));
    if (has) total += Number(match[3]);
  }
  return total;
}

describe('/metrics', () => {
  it.skipIf(PROMTOOL.skip)(
    'passes promtool check metrics and counts exactly the requests sent',
    { timeout: 60_000 },
    async () => {
      const p = project();
      const sup = await p.start({
        config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
        admin: true,
      });
      const sent = 37;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const replies = await Promise.all(
        Array.from({ length: sent }, (_, i) => request(`${sup.url('web')}/n/${i}`, { agent })),
      );
      agent.destroy();
      expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
      const { url } = admin(sup);
      const scrape = await request(`${url}metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = scrape.body;
      expect(sum(text, 'msup_http_responses_total', { service: 'web', code: '2xx' })).toBe(sent);
      expect(sum(text, 'msup_http_responses_total', { code: '5xx' })).toBe(0);
      expect(sum(text, 'msup_http_request_duration_seconds_count', { service: 'web' })).toBe(sent);
      expect(sum(text, 'msup_upstream_attempts_total', { service: 'web' })).toBe(sent);
      expect(sum(text, 'msup_instance_ready', { service: 'web' })).toBe(2);
      expect(sum(text, 'msup_instance_state', { service: 'web', state: 'running' })).toBe(2);
      expect(sum(text, 'msup_instance_resident_memory_bytes', { service: 'web' })).toBeGreaterThan(0);
      expect(text).toMatch(/^process_cpu_seconds_total \d/m);
      // promtool exits non-zero (and says why) on any problem with the text or its names.
      execFileSync(PROMTOOL.need(), ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] });
    },
  );

  it("counts msup's own answers by status: 503 when no instance is there", async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 1, port: 0, holdTimeout: '50ms' },
      }),
      admin: true,
    });
    await sup.scale('web', 0);
    expect((await request(`${sup.url('web')}/`)).status).toBe(503);
    const text = (await request(`${admin(sup).url}metrics`)).body;
    expect(sum(text, 'msup_proxy_responses_total', { service: 'web', code: '503' })).toBe(1);
    expect(sum(text, 'msup_held_total', { service: 'web' })).toBe(1);
  });
});

describe("a runtime's own metrics", () => {
  it('reach /metrics through the same registry: cold starts and environments of a function', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        hello: {
          handler: 'fns/hello.handler',
          cwd: path.join(REPO, 'fixtures'),
          port: 0,
          runtime: { function: { idleTimeout: '30s' } },
        },
      }),
      admin: true,
    });
    for (let i = 0; i < 3; i++) expect((await request(sup.url('hello') as string)).status).toBe(200);
    const text = (await request(`${admin(sup).url}metrics`)).body;
    const labels = { service: 'hello', instance: '0' };
    expect(sum(text, 'msup_function_cold_starts_total', labels)).toBe(1);
    expect(sum(text, 'msup_function_invocations_total', labels)).toBe(3);
    expect(sum(text, 'msup_function_environments', { ...labels, state: 'idle' })).toBe(1);
    expect(sum(text, 'msup_http_responses_total', { ...labels, code: '2xx' })).toBe(3);
    if (!PROMTOOL.skip) execFileSync(PROMTOOL.need(), ['check', 'metrics'], { input: text, stdio: 'pipe' });
  });
});

describe("the sidecar's per-hop metrics", () => {
  it('reach /metrics through the same registry, counting what each instance served', {
    timeout: 90_000,
  }, async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ web: { command: node('echo-server.js'), port: 0, runtime: 'sidecar' } }),
      admin: true,
    });
    const sent = 6;
    for (let i = 0; i < sent; i++) expect((await request(`${sup.url('web')}/orders/${i}`)).status).toBe(200);
    const labels = { service: 'web', instance: '0', direction: 'inbound', route: '/orders' };
    let text = '';
    // A sidecar reports its series about once a second: wait for one taken after the last request.
    const counted = await waitFor(
      async () => {
        text = (await request(`${admin(sup).url}metrics`)).body;
        return sum(text, 'msup_sidecar_requests_total', { ...labels, classification: 'success' }) === sent;
      },
      15_000,
      200,
    );
    expect(
      counted,
      text
        .split('\n')
        .filter((l) => l.startsWith('msup_sidecar'))
        .join('\n'),
    ).toBe(true);
    expect(sum(text, 'msup_sidecar_request_duration_seconds_count', labels)).toBe(sent);
    expect(sum(text, 'msup_http_responses_total', { service: 'web', code: '2xx' })).toBe(sent);
    if (!PROMTOOL.skip) execFileSync(PROMTOOL.need(), ['check', 'metrics'], { input: text, stdio: 'pipe' });
  });
});

describe('actions', () => {
  it('need the token, and a Host and Origin that name the listener; each is logged', async () => {
    const p = project();
    const sup = p.create({
      config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
      admin: true,
    });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    const { url, token, host } = admin(sup);
    const post = (path: string, headers: Record<string, string>, body = '{"service":"web"}') =>
      request(`${url}api/${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    const pids = () => sup.instances('web').map((i) => i.pid);
    const before = pids();

    const noToken = await post('restart', {});
    expect(noToken.status).toBe(403);
    expect(JSON.parse(noToken.body).error.code).toBe('MSUP_FORBIDDEN');
    const wrongToken = await post('restart', { 'x-msup-token': `${token.slice(0, -1)}x` });
    expect(wrongToken.status).toBe(403);
    // As long as the token in characters, not in bytes (é, sent as %C3%A9): a token that does not match, not
    // a 500.
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${url}api/events?token=${token.slice(0, -1)}%C3%A9`, (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
    });
    // The stream, without the log lines: a token that does not match.
    expect(status).toBe(200);
    // Another page in the same browser (CSRF): its own Origin, even with the token.
    const otherOrigin = await post('restart', { 'x-msup-token': token, origin: 'http://evil.example' });
    expect(otherOrigin.status).toBe(403);
    // DNS rebinding: the browser sends the attacker's name as Host.
    const rebound = await post('restart', { 'x-msup-token': token, host: 'evil.example' });
    expect(rebound.status).toBe(421);
    expect((await request(url, { headers: { host: `evil.example:${host.split(':')[1]}` } })).status).toBe(
      421,
    );
    expect(pids()).toEqual(before);
    expect(logs.filter((r) => r.msg === 'admin action refused')).toHaveLength(3);

    const restarted = await post('restart', { 'x-msup-token': token, origin: `http://${host}` });
    expect(restarted.status).toBe(200);
    expect(JSON.parse(restarted.body).ok).toBe(true);
    const after = pids();
    expect(after.every((pid, i) => pid !== null && pid !== before[i])).toBe(true);

    const scaled = await post('scale', { 'x-msup-token': token }, '{"service":"web","count":3}');
    expect(scaled.status).toBe(200);
    expect(sup.instances('web')).toHaveLength(3);

    const bad = await post('scale', { 'x-msup-token': token }, '{"service":"web","count":-1}');
    expect(bad.status).toBe(400);
    // A body over the bound gets its 400 (the connection was reset before).
    const large = await post(
      'scale',
      { 'x-msup-token': token },
      JSON.stringify({ pad: 'x'.repeat(300_000) }),
    );
    expect(large.status).toBe(400);
    expect(JSON.parse(large.body).error.message).toMatch(/over 16384 bytes/);
    // Refused as asked (a count, a body, an action that is not one): logged too (they were not).
    const notJson = await post('scale', { 'x-msup-token': token }, '{');
    expect(notJson.status).toBe(400);
    expect((await post('reboot', { 'x-msup-token': token })).status).toBe(400);
    expect(
      logs.filter((r) => r.msg === 'admin action refused').map((r) => [r.action, String(r.reason)]),
    ).toEqual([
      ['restart', expect.any(String)],
      ['restart', expect.any(String)],
      ['restart', expect.any(String)],
      ['scale', expect.stringMatching(/count/)],
      ['scale', expect.stringMatching(/over 16384 bytes/)],
      ['scale', 'the request body is not JSON'],
      ['reboot', expect.any(String)],
    ]);
    const unknown = await post('restart', { 'x-msup-token': token }, '{"service":"nope"}');
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error.code).toBe('MSUP_UNKNOWN_SERVICE');

    const done = logs.filter((r) => r.msg.startsWith('admin action: ')).map((r) => [r.msg, r.service]);
    expect(done).toEqual([
      ['admin action: restart', 'web'],
      ['admin action: scale', 'web'],
      ['admin action: restart', 'nope'],
    ]);
  });

  it('stop ends msup, after its answer', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ w: { command: node('worker.js') } }),
      admin: true,
    });
    const { url, token } = admin(sup);
    const stop = await request(`${url}api/stop`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', 'x-msup-token': token },
    });
    expect(stop.status).toBe(200);
    await sup.whenStopped();
    expect(sup.instances('w').map((i) => i.state)).toEqual(['stopped']);
  });
});

/** Reads server-sent events from `url` until `enough` says so; answers the events by name. */
function readEvents(
  url: string,
  enough: (events: { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: unknown }[] = [];
    const req = http.get(url, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          end = buffer.indexOf('\n\n');
        }
        if (enough(events)) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on('error', reject);
  });
}

describe('the event stream', () => {
  it('sends the state to anyone, and log lines only with the token', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
      admin: true,
    });
    const { url, token } = admin(sup);
    const states = (events: { event: string }[]) => events.filter((e) => e.event === 'state').length;
    const anonymous = await readEvents(`${url}api/events`, (e) => states(e) >= 2);
    expect(anonymous.filter((e) => e.event === 'lines')).toEqual([]);
    const state = anonymous.find((e) => e.event === 'state')?.data as {
      services: { name: string; instances: { index: number; ready: boolean }[] }[];
    };
    expect(state.services.map((s) => [s.name, s.instances.map((i) => i.ready)])).toEqual([
      ['web', [true, true]],
    ]);
    const withToken = await readEvents(`${url}api/events?token=${token}`, (e) =>
      e.some((x) => x.event === 'lines'),
    );
    const lines = withToken.find((e) => e.event === 'lines')?.data as {
      lines: { service: string | null; text: string }[];
    };
    // The instances' own output, kept since start, replayed to a new viewer.
    expect(lines.lines.some((l) => l.service === 'web' && /listening on/.test(l.text))).toBe(true);
  });
});

describe('HEAD /api/events', () => {
  it("answers the stream's headers and ends, and is no viewer", async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ w: { command: node('worker.js') } }), admin: true });
    const { url, token } = admin(sup);
    // More than the viewers allowed: each would count as one if it were held (it was held open for good).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i <= MAX_VIEWERS_WITHOUT_TOKEN; i++) {
        const head = await request(`${url}api/events`, { method: 'HEAD', agent });
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(head.body).toBe('');
      }
      expect((await request(`${url}api/events?token=${token}`, { method: 'HEAD', agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
    const events = await readEvents(`${url}api/events`, (e) => e.some((x) => x.event === 'hello'));
    expect(events[0]?.event).toBe('hello');
  });
});

/**
 * A GET of `target` on a connection of its own, kept open: resolves with what came once the stream's
 * `hello` arrived (the socket stays open), or once the server closed the connection.
 */
function openStream(
  port: number,
  host: string,
  target: string,
): Promise<{ socket: net.Socket; got: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('event: hello')) resolve({ socket, got });
    });
    socket.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    socket.on('close', () => resolve({ socket, got: got || 'closed' }));
  });
}

describe('event streams past their bound', () => {
  it('are refused with 503 (the connection closed), and /metrics and the actions are still served', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    const sup = p.create({
      config: p.config({ web: { command: node('echo-server.js'), instances: 1, port: 0 } }),
      admin: true,
    });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    const { url, token, host } = admin(sup);
    const port = Number(host.split(':')[1]);
    const sockets: net.Socket[] = [];
    p.onCleanup(async () => {
      for (const s of sockets) s.destroy();
    });
    // More than the listener's connections, as anyone on the machine can open them (no token): they were
    // all held, and a scrape past the 256th was reset.
    const answers: string[] = [];
    for (let i = 0; i < ADMIN_MAX_CONNECTIONS + 4; i++) {
      const { socket, got } = await openStream(port, host, '/api/events');
      sockets.push(socket);
      answers.push(got);
    }
    // Scrapes have their connections.
    const scrape = await request(`${url}metrics`);
    expect(scrape.status).toBe(200);
    expect(sum(scrape.body, 'msup_instance_ready', { service: 'web' })).toBe(1);
    const held = answers.filter((a) => /^HTTP\/1\.1 200 /.test(a));
    const refused = answers.filter((a) => /^HTTP\/1\.1 503 /.test(a));
    expect(held.length).toBe(MAX_VIEWERS_WITHOUT_TOKEN);
    expect(refused.length).toBe(answers.length - MAX_VIEWERS_WITHOUT_TOKEN);
    const refusal = refused[0] as string;
    expect(refusal).toMatch(/^connection: close\r$/im);
    const body = JSON.parse(refusal.slice(refusal.indexOf('\r\n\r\n') + 4));
    expect(body.error.code).toBe('MSUP_ADMIN');
    expect(body.error.message).toMatch(/too many event streams without the token are open \(32,/);
    expect(logs.filter((r) => /an event stream was refused/.test(r.msg)).length).toBeGreaterThan(0);

    // Actions have their connections too.
    // A dashboard with the token has streams of its own, as many as its bound.
    for (let i = 0; i < MAX_VIEWERS_WITH_TOKEN; i++) {
      const { socket, got } = await openStream(port, host, `/api/events?token=${token}`);
      sockets.push(socket);
      expect(got).toMatch(/^HTTP\/1\.1 200 /);
    }
    const more = await openStream(port, host, `/api/events?token=${token}`);
    sockets.push(more.socket);
    expect(more.got).toMatch(/^HTTP\/1\.1 503 [\s\S]*too many event streams with the token/);
    expect((await request(`${url}metrics`)).status).toBe(200);
    const scaled = await request(`${url}api/scale`, {
      method: 'POST',
      body: '{"service":"web","count":2}',
      headers: { 'content-type': 'application/json', 'x-msup-token': token },
    });
    expect(scaled.status).toBe(200);
    expect(sup.instances('web').length).toBe(2);

    // A viewer that leaves makes room for another.
    sockets[0]?.destroy();
    expect(
      await waitFor(async () => {
        const { socket, got } = await openStream(port, host, '/api/events');
        sockets.push(socket);
        return /^HTTP\/1\.1 200 /.test(got);
      }),
    ).toBe(true);
  });
});

type FeedEvent = { event: string; data: unknown };

/** Serves `feed` (viewers without the lines, or with them) on a loopback port for `use`, then closes both. */
async function servingFeed(
  feed: EventFeed,
  use: (url: string) => Promise<void>,
  lines = false,
): Promise<void> {
  const server = http.createServer((_req, res) => feed.add(res, lines));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    feed.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const statesOf = (events: FeedEvent[]) =>
  events.filter((e) => e.event === 'state').map((e) => e.data as DashboardState);

describe('the feed between two samples', () => {
  it('sends the instances as they are now when one changes (nudge), without waiting for the next sample', async () => {
    const state = (name: string): DashboardState => ({ at: 1, services: [{ name } as DashboardService] });
    // A period of an hour: a second state can only come from the nudge.
    const feed = new EventFeed(
      async () => state('sampled'),
      () => state('refreshed'),
      () => {},
      3_600_000,
    );
    await servingFeed(feed, async (url) => {
      const got = await readEvents(url, (e) => {
        if (statesOf(e).length === 1) feed.nudge();
        return statesOf(e).length >= 2;
      });
      // First, whether this viewer gets the log lines.
      expect(got[0]).toEqual({ event: 'hello', data: { run: expect.any(String), lines: false } });
      expect(statesOf(got).map((s) => s.services[0]?.name)).toEqual(['sampled', 'refreshed']);
    });
  });
});

describe('the admin listener under odd requests', () => {
  it('answers 400 to a target no URL can be made of', async () => {
    const p = project();
    const sup = await p.start({ config: p.config({ w: { command: node('worker.js') } }), admin: true });
    const { host } = admin(sup);
    const port = Number(host.split(':')[1]);
    for (const target of ['//[', '//a:b@/metrics']) {
      const answer = await rawExchange(
        port,
        `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      // It was a 500 (Invalid URL).
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
  });
});

describe("the admin listener's connections at their bound", () => {
  /** A connection to the listener, open (connected) when it resolves; `closed` once the server closed it. */
  const connect = (port: number) =>
    new Promise<{ socket: net.Socket; got: () => string; closed: () => boolean }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let got = '';
      let closed = false;
      socket.on('data', (d) => {
        got += d.toString('latin1');
      });
      socket.on('close', () => {
        closed = true;
      });
      socket.once('connect', () => {
        socket.on('error', () => {});
        resolve({ socket, got: () => got, closed: () => closed });
      });
      socket.once('error', reject);
    });

  type Held = Awaited<ReturnType<typeof connect>>;

  /** A supervisor with the listener, its log, and lists of connections (`held`, `more`) closed after the test. */
  async function listening() {
    const p = project();
    const sup = p.create({ config: p.config({ w: { command: node('worker.js') } }), admin: true });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    const held: Held[] = [];
    const more: Held[] = [];
    p.onCleanup(async () => {
      for (const c of [...held, ...more]) c.socket.destroy();
    });
    const { url, token, host } = admin(sup);
    return { logs, held, more, url, token, host, port: Number(host.split(':')[1]) };
  }

  it('close the one idle longest for a new connection: idle sockets cannot lock out a scrape', {
    timeout: 60_000,
  }, async () => {
    const { logs, held: idle, more, url, host, port } = await listening();
    // A scrape's keep-alive connection, the oldest of all: it sends its request once the rest are open.
    const scraper = await connect(port);
    more.push(scraper);
    // The rest, none sending a byte: a scrape past them all was reset (until headersTimeout closed them,
    // and their holder could open them again at once). The first comes first, the others all at once.
    idle.push(await connect(port));
    idle.push(...(await Promise.all(Array.from({ length: ADMIN_MAX_CONNECTIONS - 2 }, () => connect(port)))));
    // Answered a moment ago: idle the shortest time, though the oldest connection. It was the one closed.
    // Nothing waits on Node's keep-alive timer (5 s) that its answer starts.
    scraper.socket.write(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    // The whole answer (chunked: its last chunk) is in: msup has ended it, nothing is in progress.
    expect(await waitFor(() => /^HTTP\/1\.1 200 [\s\S]*\r\n0\r\n\r\n$/.test(scraper.got()))).toBe(true);

    expect((await request(`${url}metrics`)).status).toBe(200);
    // The one idle longest made room, and only it.
    expect(await waitFor(() => idle[0]?.closed() === true)).toBe(true);
    expect(idle.flatMap((c, i) => (c.closed() ? [i] : []))).toEqual([0]);
    expect(scraper.closed()).toBe(false);
    const made = logs.filter((r) => /admin listener: connection limit reached/.test(r.msg));
    expect(made.map((r) => [r.level, r.msg, r.maxConnections])).toEqual([
      [
        'warn',
        'admin listener: connection limit reached, the connections idle longest are closed for new ones',
        ADMIN_MAX_CONNECTIONS,
      ],
    ]);
  });

  it("without Node's list of connections, close only one that has sent nothing: never one whose request may be in progress", async () => {
    // A server with no such list, as on a Node without one: a plain TCP server, its sockets admitted.
    const server = net.createServer();
    const room = new ConnectionRoom(2, server as unknown as http.Server);
    const accepted: net.Socket[] = [];
    const outcomes: Admission[] = [];
    server.on('connection', (socket) => {
      socket.on('error', () => {});
      accepted.push(socket);
      outcomes.push(room.admit(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const clients: Held[] = [];
    try {
      // A head begun, then a socket that sends nothing: a third closes the silent one.
      clients.push(await connect(port));
      clients[0]?.socket.write('GET /metrics HTTP/1.1\r\n');
      expect(await waitFor(() => (accepted[0]?.bytesRead ?? 0) > 0)).toBe(true);
      clients.push(await connect(port));
      clients.push(await connect(port));
      expect(await waitFor(() => clients[1]?.closed() === true)).toBe(true);
      expect(outcomes).toEqual(['room', 'room', 'made-room']);
      // The third sends a byte: with nothing else known, both may have a request in progress.
      clients[2]?.socket.write('G');
      expect(await waitFor(() => (accepted[2]?.bytesRead ?? 0) > 0)).toBe(true);
      clients.push(await connect(port));
      expect(await waitFor(() => clients[3]?.closed() === true)).toBe(true);
      expect(outcomes).toEqual(['room', 'room', 'made-room', 'refused']);
      expect(clients.map((c) => c.closed())).toEqual([false, true, false, true]);
    } finally {
      // Both ends: the server's, never read, would not see the client's end.
      for (const socket of [...clients.map((c) => c.socket), ...accepted]) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never close one whose answer is still being written to a slow reader, though the answer has ended', async () => {
    // A plain http server and the room, as the admin listener wires them: the answer (64 MB, ended at once,
    // more than loopback's socket buffers take) waits in the socket for a client that does not read.
    const body = Buffer.alloc(64 * 1024 * 1024, 'x');
    const server = http.createServer((_req, res) => res.end(body));
    const room = new ConnectionRoom(1, server);
    const outcomes: Admission[] = [];
    server.on('connection', (socket) => outcomes.push(room.admit(socket)));
    server.on('request', (req, res) => room.request(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const clients: Held[] = [];
    try {
      clients.push(await connect(port));
      const slow = clients[0] as Held;
      slow.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await waitFor(() => slow.got().length > 0)).toBe(true);
      slow.socket.pause();
      // Its answer has ended (Node's list counts it between requests), but most of it is still to be written.
      clients.push(await connect(port));
      expect(await waitFor(() => outcomes.length === 2)).toBe(true);
      expect(outcomes).toEqual(['room', 'refused']);
      expect(slow.closed()).toBe(false);
      // Read to the end: all of it arrives, and then it is idle and makes room.
      slow.socket.resume();
      expect(await waitFor(() => slow.got().length >= body.length)).toBe(true);
      clients.push(await connect(port));
      expect(await waitFor(() => outcomes.length === 3)).toBe(true);
      expect(outcomes[2]).toBe('made-room');
    } finally {
      for (const c of clients) c.socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never close one with a request in progress or an event stream: with none idle, the new one is closed', {
    timeout: 60_000,
  }, async () => {
    const { logs, held, more, url, token, host, port } = await listening();
    // An action whose body has not come: msup answers 100 Continue once it has the request, then waits.
    const inProgress = async () => {
      const c = await connect(port);
      c.socket.write(
        `POST /api/scale HTTP/1.1\r\nHost: ${host}\r\nx-msup-token: ${token}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 30\r\n\r\n`,
      );
      expect(await waitFor(() => /^HTTP\/1\.1 100 /.test(c.got()))).toBe(true);
      held.push(c);
    };
    const stream = await openStream(port, host, '/api/events');
    held.push({ socket: stream.socket, got: () => stream.got, closed: () => stream.socket.destroyed });
    expect(stream.got).toMatch(/^HTTP\/1\.1 200 /);
    // Every one older than the idle one below is in progress, so the room has to pass them all by. They
    // come first: the idle one is answered right before the scrape, well within Node's keep-alive timeout
    // (5 s), which would otherwise close it on its own on a slow machine and leave a free place.
    await Promise.all(Array.from({ length: ADMIN_MAX_CONNECTIONS - 2 }, inProgress));
    // Kept alive between two requests: idle, though it has been answered once.
    const between = await connect(port);
    more.push(between);
    between.socket.write(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    // The whole answer (chunked: its last chunk) is in: msup has ended it, nothing is in progress.
    expect(await waitFor(() => /^HTTP\/1\.1 200 [\s\S]*\r\n0\r\n\r\n$/.test(between.got()))).toBe(true);
    const busy = held.length;
    expect(busy + 1).toBe(ADMIN_MAX_CONNECTIONS);

    // The one between requests is the one that makes room.
    expect((await request(`${url}metrics`)).status).toBe(200);
    expect(await waitFor(() => between.closed())).toBe(true);
    // Now every connection has a request in progress: the next is closed as it comes, unanswered.
    await inProgress();
    expect(
      await rawExchange(port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    ).toBe('closed');
    expect(held.filter((c) => c.closed()).length).toBe(0);
    expect(logs.filter((r) => /connection limit reached/.test(r.msg)).map((r) => r.msg)).toEqual([
      'admin listener: connection limit reached, the connections idle longest are closed for new ones',
      'admin listener: connection limit reached, every connection has a request in progress: new connections are refused',
    ]);
    // Once one ends, the listener serves again.
    held.shift()?.socket.destroy();
    expect(
      await waitFor(async () =>
        /^HTTP\/1\.1 200 /.test(
          await rawExchange(port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
        ),
      ),
    ).toBe(true);
  });

  it("judge a connection by Node's parser: a pipelined head still coming is in progress, a request Node answered itself is not", {
    timeout: 60_000,
  }, async () => {
    const { logs, held, more, token, url, host, port } = await listening();
    // Every other one is in progress (an action waiting for its body), so the room has to choose between
    // the two below. They come first, all at once: nothing below waits on a clock of Node's.
    await Promise.all(
      Array.from({ length: ADMIN_MAX_CONNECTIONS - 2 }, async () => {
        const c = await connect(port);
        held.push(c);
        c.socket.write(
          `POST /api/scale HTTP/1.1\r\nHost: ${host}\r\nx-msup-token: ${token}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 30\r\n\r\n`,
        );
        expect(await waitFor(() => /^HTTP\/1\.1 100 /.test(c.got()))).toBe(true);
      }),
    );
    // An action answered 403 before its body came; then, in one write, its body and the head of a
    // scrape, not yet whole. The scrape is in progress: it was taken for idle (its bytes read with the
    // body's) and closed, and its GET never answered.
    const pipelined = await connect(port);
    more.push(pipelined);
    pipelined.socket.write(`POST /api/scale HTTP/1.1\r\nHost: ${host}\r\ncontent-length: 2\r\n\r\n`);
    expect(await waitFor(() => /^HTTP\/1\.1 403 [\s\S]*\r\n\r\n\{.*\}$/.test(pipelined.got()))).toBe(true);
    pipelined.socket.write(`{}GET /metrics HTTP/1.1\r\nHost: ${host}\r\n`);
    // A request Node answers itself (417), never seen as a request by msup: idle once answered. It
    // counted as busy until its keep-alive ran out, a cheap way to keep a place.
    const answeredByNode = await connect(port);
    more.push(answeredByNode);
    answeredByNode.socket.write(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\nExpect: foo\r\n\r\n`);
    expect(await waitFor(() => /^HTTP\/1\.1 417 [\s\S]*\r\n0\r\n\r\n$/.test(answeredByNode.got()))).toBe(
      true,
    );

    expect((await request(`${url}metrics`)).status).toBe(200);
    expect(await waitFor(() => answeredByNode.closed())).toBe(true);
    expect(pipelined.closed()).toBe(false);
    expect(held.filter((c) => c.closed()).length).toBe(0);
    // The rest of its head: the pipelined scrape is answered.
    pipelined.socket.write('\r\n');
    expect(await waitFor(() => /\}HTTP\/1\.1 200 [\s\S]*\r\n0\r\n\r\n$/.test(pipelined.got()))).toBe(true);
    expect(logs.filter((r) => /connection limit reached/.test(r.msg)).map((r) => r.msg)).toEqual([
      'admin listener: connection limit reached, the connections idle longest are closed for new ones',
    ]);
  });
});

/**
 * Sends `text` on a new connection and answers what came back until the server closed it ('closed' when
 * nothing came, the server closing it at once; with nothing to send, waits up to a second for that).
 */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got || 'open');
    }, 1000);
    socket.on('connect', () => {
      if (text) socket.write(text);
    });
    socket.on('data', (d) => {
      got += d.toString('latin1');
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') resolve(got || 'closed');
      else reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got || 'closed');
    });
  });
}

describe('the feed with long output lines', () => {
  it('carries each line cut to a bound, and replays and batches a bounded amount', async () => {
    const feed = new EventFeed(
      async () => ({ at: 1, services: [] }),
      () => undefined,
      () => {},
      3_600_000,
    );
    const long = (i: number) =>
      outputLine({ service: 'web', index: 0, stream: 'stdout', line: `${i} ${'x'.repeat(60_000)}` });
    // 500 lines of 60 KB kept: before, a new viewer got all of them (30 MB) at once.
    for (let i = 0; i < 500; i++) feed.line(long(i));
    const linesOf = (events: FeedEvent[]) =>
      events
        .filter((e) => e.event === 'lines')
        .map((e) => e.data as { lines: { text: string }[]; skipped: number });
    const textOf = (batch: { lines: { text: string }[] }) =>
      batch.lines.reduce((n, l) => n + l.text.length, 0);
    await servingFeed(
      feed,
      async (url) => {
        let more = false;
        const got = await readEvents(url, (e) => {
          // Once the replay is in, 500 more long lines go out in one batch.
          if (linesOf(e).length === 1 && !more) {
            more = true;
            for (let i = 500; i < 1000; i++) feed.line(long(i));
          }
          return linesOf(e).length >= 2;
        });
        const [replay, batch] = linesOf(got) as [
          { lines: { text: string }[]; skipped: number },
          { lines: { text: string }[]; skipped: number },
        ];
        for (const l of [...replay.lines, ...batch.lines]) {
          expect(l.text.length).toBeLessThan(FEED_LINE_CHARS + 100);
          expect(l.text).toMatch(/more characters in the log file\)$/);
        }
        // The newest lines are the ones kept; the replay and the batch stay under a few hundred KB.
        expect(replay.lines.at(-1)?.text.startsWith('499 ')).toBe(true);
        expect(textOf(replay)).toBeLessThanOrEqual(256 * 1024);
        expect(batch.lines[0]?.text.startsWith('500 ')).toBe(true);
        expect(textOf(batch)).toBeLessThanOrEqual(256 * 1024);
        expect(batch.skipped).toBe(500 - batch.lines.length);
        expect(batch.skipped).toBeGreaterThan(0);
      },
      true,
    );
  });
});

describe('the feed with a large state', () => {
  it('sends a message over the backlog bound when nothing is queued, instead of dropping the viewer', async () => {
    // A state of thousands of instances: 1.5 MB of JSON in one message.
    const big = (): DashboardState => ({
      at: 1,
      services: Array.from(
        { length: 3000 },
        (_, i) => ({ name: `s${i}`, pad: 'x'.repeat(500) }) as unknown as DashboardService,
      ),
    });
    const feed = new EventFeed(
      async () => big(),
      () => undefined,
      () => {},
      3_600_000,
    );
    await servingFeed(feed, async (url) => {
      // It was dropped at once, and again at every reconnect.
      const got = await readEvents(url, (e) => statesOf(e).length >= 1);
      expect(statesOf(got)[0]?.services).toHaveLength(3000);
    });
  });
});

describe('the feed when its last viewer leaves', () => {
  const firstState = async (url: string) =>
    statesOf(await readEvents(url, (e) => statesOf(e).length >= 1)).map((s) => s.at);

  it('starts afresh for the next one: no old state sent as the present, the sampler reset', async () => {
    let resets = 0;
    let sampled = 0;
    const feed = new EventFeed(
      async () => ({ at: ++sampled, services: [] }),
      () => undefined,
      () => {
        resets++;
      },
      3_600_000,
    );
    await servingFeed(feed, async (url) => {
      expect(await firstState(url)).toEqual([1]);
      expect(await waitFor(() => feed.viewers === 0 && resets === 1)).toBe(true);
      // Before, the new viewer got sample 1 again at once, as if it were now.
      expect(await firstState(url)).toEqual([2]);
    });
  });

  it('drops a sample under way when it leaves: the next viewer gets a new one, not it', async () => {
    let resets = 0;
    let calls = 0;
    let release: () => void = () => {};
    const feed = new EventFeed(
      async () => {
        const n = ++calls;
        if (n === 1) await new Promise<void>((resolve) => (release = resolve));
        return { at: n, services: [] };
      },
      () => undefined,
      () => {
        resets++;
      },
      3_600_000,
    );
    await servingFeed(feed, async (url) => {
      // The first viewer leaves while the first sample is still being taken.
      await readEvents(url, (e) => e.some((x) => x.event === 'hello'));
      expect(await waitFor(() => feed.viewers === 0 && resets === 1 && calls === 1)).toBe(true);
      release();
      // The sample of before is dropped, and what the sampler kept of it reset again.
      expect(await waitFor(() => resets === 2)).toBe(true);
      expect(await firstState(url)).toEqual([2]);
    });
  });
});

describe('when the admin listener opens', () => {
  it("with the config's admin, the option, or neither", async () => {
    const p = project();
    const withConfig = await p.start({
      config: { ...p.config({ w: { command: node('worker.js') } }), admin: { port: 0 } },
    });
    expect(withConfig.adminUrl()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{43}$/);
    const { url } = admin(withConfig);
    expect((await request(url)).body).toMatch(/<title>msup dashboard<\/title>/);
    expect((await request(`${url}uplot.js`)).status).toBe(200);
    await withConfig.stop();
    await expect(request(url)).rejects.toThrow(/ECONNREFUSED/);

    const off = await p.start({
      config: { ...p.config({ w: { command: node('worker.js') } }), admin: { port: 0 } },
      admin: false,
    });
    expect(off.adminUrl()).toBeNull();
    await off.stop();
    const none = await p.start({ config: p.config({ w: { command: node('worker.js') } }) });
    expect(none.adminUrl()).toBeNull();
    expect(await waitFor(() => none.instances('w')[0]?.state === 'running')).toBe(true);
  });
});

describe('the admin option', () => {
  it("is refused, before anything starts, on a port that is one of the fronts' (msup start --admin PORT)", async () => {
    const p = project();
    // A port that is free now: msup itself would take it twice.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    p.writeConfig({ web: { command: node('echo-server.js'), port } });
    await expect(p.start({ admin: { port }, wait: false })).rejects.toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      message: `the admin listener's port (--admin, or the admin option) cannot be ${port}: port ${port} is already the front port of service "web"`,
      issues: [{ path: 'admin.port', message: `port ${port} is already the front port of service "web"` }],
    });
  });
});

describe('admin.allowedHosts', () => {
  it('lets a request that names the listener by an allowed DNS name through; any other name still gets 421', async () => {
    const p = project();
    const base = p.config({ w: { command: node('worker.js') } });
    const status = async (url: string, host: string) =>
      (await request(`${url}metrics`, { headers: { host } })).status;

    // As before without it: a scrape by a DNS name (admin.host 0.0.0.0, Host: myhost:9090) is refused, and
    // the answer says where the name goes.
    const plain = await p.start({ config: { ...base, admin: { port: 0 } } });
    const refused = await request(`${admin(plain).url}metrics`, { headers: { host: 'myhost:9090' } });
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body).error).toEqual({
      code: 'MSUP_FORBIDDEN',
      message:
        'the Host header (myhost:9090) does not name this admin listener (a name it should answer to goes in admin.allowedHosts)',
    });
    await plain.stop();

    const sup = await p.start({
      config: { ...base, admin: { port: 0, allowedHosts: ['myhost', '.Example.test'] } },
    });
    const { url } = admin(sup);
    for (const host of ['myhost:9090', 'MYHOST', 'myhost.', 'example.test:9090', 'a.b.example.test']) {
      expect([host, await status(url, host)]).toEqual([host, 200]);
    }
    for (const host of ['otherhost:9090', 'myhost.evil', 'notexample.test', 'evil.example']) {
      expect([host, await status(url, host)]).toEqual([host, 421]);
    }
    // IP addresses and localhost are served as ever.
    expect(await status(url, admin(sup).host)).toBe(200);
    await sup.stop();

    // The admin option's list replaces the config's.
    const option = await p.start({
      config: { ...base, admin: { port: 0, allowedHosts: ['myhost'] } },
      admin: { allowedHosts: ['scraper.lan'] },
    });
    expect(await status(admin(option).url, 'scraper.lan:9100')).toBe(200);
    expect(await status(admin(option).url, 'myhost:9090')).toBe(421);
  });

  it('is checked: in the config with MSUP_CONFIG_INVALID, in the admin option with MSUP_USAGE', async () => {
    const p = project();
    const base = p.config({ w: { command: node('worker.js') } });
    await expect(
      p.start({ config: { ...base, admin: { allowedHosts: ['myhost:9090'] } } }),
    ).rejects.toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      issues: [
        {
          path: 'admin.allowedHosts.0',
          message:
            'expected a host name such as "metrics.example.com", or ".example.com" for it and every name under it (no port, no scheme, no wildcard), got "myhost:9090"',
        },
      ],
    });
    await expect(
      p.start({ config: { ...base, admin: { allowedHosts: 'myhost' as unknown as string[] } } }),
    ).rejects.toMatchObject({
      code: 'MSUP_CONFIG_INVALID',
      issues: [{ path: 'admin.allowedHosts', message: 'expected an array of host names, got "myhost"' }],
    });
    await expect(
      p.start({ config: base, admin: { allowedHosts: ['ok', '*.example.com'] } }),
    ).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: expect.stringMatching(
        /^admin\.allowedHosts\.1: expected a host name .*, got "\*\.example\.com"$/,
      ),
    });
  });
});
