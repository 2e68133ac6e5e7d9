// A front holds at most its maxConnections client connections: past it, a new connection is closed at
// once (and reported), for HTTP and for TCP mode on both socket layers; a slot frees when one closes.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
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
