// A front holds at most its maxConnections client connections: past it, a new connection is closed at
// once (and reported), for HTTP and for TCP mode on both socket layers; a slot frees when one closes.
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fdLimit } from '../../src/proxy/connection-limits.js';
import { handleIo } from '../../src/proxy/tcp-handles.js';
import type { TcpIo } from '../../src/proxy/tcp-io.js';
import { netIo } from '../../src/proxy/tcp-net.js';
import { loadHandles } from '../../src/uv-handles.js';
import { waitFor } from '../helpers/processes.js';
import { useUpstreams } from '../helpers/upstreams.js';

const { httpUpstream, tcpUpstream, proxy } = useUpstreams();

/** Opens `count` connections; each ends up 'open' (held) or 'closed' (closed by the front). */
async function connections(port: number, count: number) {
  let connected = 0;
  const sockets = Array.from({ length: count }, () => {
    const socket = net.connect(port, '127.0.0.1', () => connected++);
    socket.on('error', () => {});
    socket.on('end', () => socket.destroy());
    socket.resume();
    return socket;
  });
  const states = () => sockets.map((s) => (s.destroyed ? 'closed' : 'open'));
  await waitFor(() => connected === count);
  return {
    sockets,
    states,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

const ios: [string, TcpIo | undefined][] = [
  ['http', undefined],
  ['tcp on net.Socket', netIo],
];
const handles = loadHandles();
if (handles) ios.push(['tcp on libuv handles', handleIo(handles)]);

describe.each(ios)('connection limit, %s', (_name, tcpIo) => {
  it('refuses connections past maxConnections, reports it, and takes one again once a slot frees', async () => {
    const upstream = tcpIo ? await tcpUpstream(() => {}) : await httpUpstream((_req, res) => res.end('ok'));
    const logs: { msg: string; fields: Record<string, unknown> }[] = [];
    const { proxy: front, port } = await proxy([upstream], {
      ...(tcpIo ? { mode: 'tcp' as const, tcpIo } : {}),
      log: (_level, msg, fields) => logs.push({ msg, fields }),
    });
    front.setMaxConnections(3);
    const first = await connections(port, 5);
    try {
      await waitFor(() => first.states().filter((s) => s === 'closed').length === 2, 5000);
      expect(first.states().filter((s) => s === 'open')).toHaveLength(3);
      expect(logs).toEqual([
        {
          msg: 'connection limit reached: new connections are refused',
          fields: { front: 'service "web"', maxConnections: 3 },
        },
      ]);
      // Once the front has seen a held connection close, a new one is taken.
      first.sockets.find((s) => !s.destroyed)?.destroy();
      const taken = await waitFor(async () => {
        const next = await connections(port, 1);
        await new Promise((r) => setTimeout(r, 100));
        const open = next.states()[0] === 'open';
        next.close();
        return open;
      }, 5000);
      expect(taken).toBe(true);
    } finally {
      first.close();
    }
  });
});

// Fills this process's descriptors for a moment: only where the limit is modest.
describe.skipIf((fdLimit() ?? Number.POSITIVE_INFINITY) > 100_000)('out of file descriptors', () => {
  it('answers 503 to a request it cannot pass on, and logs it (the failed accepts libuv hides)', async () => {
    // Connection: close, so the second request needs a new connection to the instance.
    const upstream = await httpUpstream((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
    const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const { port, proxy: front } = await proxy([upstream], {
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let got = '';
    socket.on('data', (d) => (got += d));
    const held: number[] = [];
    try {
      // A first answer: the front has taken the connection.
      socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await waitFor(() => /\r\n\r\n(2\r\n)?ok/.test(got), 5000)).toBe(true);
      try {
        for (;;) held.push(openSync('/dev/null', 'r'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EMFILE') throw error;
      }
      got = '';
      socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await waitFor(() => got.includes('(out of file descriptors)'), 5000)).toBe(true);
    } finally {
      for (const fd of held) closeSync(fd);
      socket.destroy();
    }
    expect(got).toMatch(/^HTTP\/1\.1 503 /);
    expect(logs).toEqual([
      {
        level: 'error',
        msg: 'msup is out of file descriptors: a request could not be passed on',
        fields: { service: 'web', code: 'EMFILE' },
      },
    ]);
    // Not the instance's failure.
    expect(front.stats()[0]?.errors).toBe(0);
  });
});
