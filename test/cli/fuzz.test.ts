// A few thousand malformed HTTP requests (to a service's front and the shared front) and control
// messages (to the control socket), generated from a fixed seed: msup answers or closes each, keeps
// running with every instance up, still answers on every front, and ends with its descriptors back
// where they were.
import { readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { controlRequest } from '../../src/control/client.js';
import type { StatusV1 } from '../../src/control/protocol.js';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

/** mulberry32: a small PRNG, so every run sends the same inputs. */
function prng(seed: number) {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}

type Rng = ReturnType<typeof prng>;

/** Known request-smuggling and parser-abuse forms, then random mutations of a good request. */
function malformedRequest(r: Rng): Buffer {
  const host = r.pick(['x', 'a.test', '', 'x:99999', 'x\u0000y', 'a b']);
  const forms = [
    `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
    `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n`,
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
    'GET / HTTP/1.1\nHost: x\n\n',
    'GET / HTTP/1.1\rHost: x\r\r',
    'GET /\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    'GARBAGE\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n',
    `GET / HTTP/1.1\r\nHost: x\r\n${'X-A: 1\r\n'.repeat(1500)}\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    'GET http://169.254.169.254/latest HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n',
    'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: nope\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: host, content-length\r\n\r\n',
    'GET / HTTP/2.0\r\nHost: x\r\n\r\n',
    'GET /\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n',
    'G\u00e9T / HTTP/1.1\r\nHost: x\r\n\r\n',
    `${'A'.repeat(9000)} / HTTP/1.1\r\nHost: x\r\n\r\n`,
    'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n',
    'GET / HTTP/1.1\r\nHo st: x\r\n\r\n',
    'GET / HTTP/1.1\r\n: empty\r\nHost: x\r\n\r\n',
  ];
  const roll = r.int(10);
  if (roll < 5) return Buffer.from(r.pick(forms), 'latin1');
  if (roll < 6) return r.bytes(1 + r.int(400));
  // A good request with a few bytes changed, cut short or repeated.
  const good = Buffer.from(
    `${r.pick(['GET', 'POST', 'DELETE', 'BREW'])} /p?q=${r.int(99)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  );
  const mutated = Buffer.from(good);
  for (let i = 0; i < 1 + r.int(4); i++) mutated[r.int(mutated.length)] = r.int(256);
  if (roll < 8) return mutated;
  if (roll < 9) return mutated.subarray(0, r.int(mutated.length));
  return Buffer.concat([mutated, r.bytes(r.int(50)), good]);
}

/** Any JSON value, nested a little; numbers that break naive code (1e300, -0, huge integers). */
function anyValue(r: Rng, depth = 0): unknown {
  const kinds = depth > 3 ? 4 : 7;
  switch (r.int(kinds)) {
    case 0:
      return null;
    case 1:
      return r.pick([0, -1, 1e300, -0, 2 ** 53 + 1, 1.5, 100_000_000, Number.MAX_SAFE_INTEGER]);
    case 2:
      return r.pick(['', 'web', 'api', '__proto__', 'constructor', 'x'.repeat(300), '\u0000', 'status']);
    case 3:
      return r.next() < 0.5;
    case 4:
      return Array.from({ length: r.int(4) }, () => anyValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(5) }, () => [
          r.pick(['v', 'id', 'cmd', 'service', 'counts', 'x', '__proto__']),
          anyValue(r, depth + 1),
        ]),
      );
  }
}

/** A control line that must not stop msup or change its services, but may be anything else. */
function malformedControl(r: Rng): string {
  const roll = r.int(8);
  if (roll === 0)
    return r
      .bytes(1 + r.int(200))
      .toString('latin1')
      .replaceAll('\n', ' ');
  if (roll === 1) return JSON.stringify(anyValue(r));
  const cmd = r.pick(['status', 'restart', 'scale', 'follow', 'nope', '', 7, null]);
  const message: Record<string, unknown> = { v: r.pick([1, 1, 1, 2, '1', null]), id: anyValue(r), cmd };
  // Only requests that cannot be carried out: unknown services, counts past the bound or not counts.
  if (cmd === 'restart' || cmd === 'follow') message.service = r.pick(['nope', 7, {}, '']);
  if (cmd === 'scale')
    message.counts = r.pick([{ nope: 1 }, { web: 1001 }, { web: -1 }, { web: '2' }, [], null]);
  if (r.int(3) === 0) message.extra = anyValue(r);
  return JSON.stringify(message);
}

/** Sends `data` on a new connection; resolves once msup closes it, or after `ms`. */
function send(port: number, data: Buffer, ms = 1500): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    socket.on('error', () => {});
    socket.resume();
    socket.setTimeout(ms, () => socket.destroy());
    socket.on('close', () => resolve());
  });
}

/** Sends control lines on one connection; resolves when each got an answer, or msup closed it. */
function converse(socketPath: string, lines: string[], ms = 3000): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let answers = 0;
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      text += chunk;
      answers = text.split('\n').filter((l) => l.includes('"ok":')).length;
      if (answers >= lines.length) socket.destroy();
    });
    socket.setTimeout(ms, () => socket.destroy());
    socket.on('close', () => resolve(answers));
    socket.write(lines.map((l) => `${l}\n`).join(''));
  });
}

/** Runs `run` over `items`, `size` at a time (a new one starts as soon as one ends). */
async function pooled<T>(items: T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++] as T);
  };
  await Promise.all(Array.from({ length: size }, worker));
}

describe('fuzz', () => {
  it('survives a few thousand malformed requests and control messages, back to its baseline', async () => {
    const p = project();
    const echo = { command: ['node', fixture('echo-server.js')], port: 0, health: { http: '/health' } };
    const { services } = p.config({ web: { ...echo, instances: 2 }, api: { ...echo, instances: 1 } });
    const proxy = {
      port: 0,
      headersTimeout: '1s',
      bodyTimeout: '1s',
      routes: [
        { path: '/api', service: 'api', stripPrefix: true },
        { path: '/', service: 'web' },
      ],
    };
    p.write('supervisor.config.json', JSON.stringify({ services, proxy }));
    const run = runCli(p, ['start', '--json', '--no-watch']);
    await run.waitForOutput(/"msg":"all ready"/, 20_000);
    const before = await controlRequest<StatusV1>(p.root, { cmd: 'status' });
    const fds = () => readdirSync(`/proc/${before.pid}/fd`).length;
    let baseline = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      baseline = Math.min(baseline, fds());
      await sleep(50);
    }
    const r = prng(0x5eed);
    const fronts = [before.services[0]?.url, before.sharedFront].map((u) =>
      Number(new URL(u as string).port),
    );

    const requests = Array.from({ length: 2400 }, () => ({
      port: r.pick(fronts),
      data: malformedRequest(r),
    }));
    await pooled(requests, 100, ({ port, data }) => send(port, data));

    const socketPath = path.join(p.root, '.msup', 'control.sock');
    const conversations = Array.from({ length: 150 }, () =>
      Array.from({ length: 1 + r.int(12) }, () => malformedControl(r)),
    );
    conversations.push([`{"v":1,"id":1,"cmd":"status","pad":"${'x'.repeat(1_100_000)}"}`]);
    await pooled(conversations, 32, (lines) => converse(socketPath, lines));
    const sent = requests.length + conversations.flat().length;
    expect(sent).toBeGreaterThan(3000);

    // Still answering, on every front, with every instance up since the start.
    for (const url of [before.services[0]?.url, before.services[1]?.url, `${before.sharedFront}/api/x`]) {
      expect((await request(url as string)).status).toBe(200);
    }
    const after = await controlRequest<StatusV1>(p.root, { cmd: 'status' });
    expect(after.ready).toBe(true);
    expect(after.pid).toBe(before.pid);
    expect(after.services.flatMap((s) => s.instances.map((i) => i.restarts))).toEqual([0, 0, 0]);
    expect(await waitFor(() => fds() <= baseline, 20_000)).toBe(true);
    expect(run.stderr()).toBe('');
  }, 120_000);
});
