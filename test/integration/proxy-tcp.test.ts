// TCP mode's forwarding over real loopback sockets, for both socket layers: libuv's handles (the fast
// path, used wherever Node has them) and net.Socket (the public-API path). Half-close, back-pressure,
// byte-exact copies both ways, resets, the hold window, descriptors back to baseline.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MsupError } from '../../src/errors.js';
import { ServiceProxy } from '../../src/proxy/server.js';
import { defaultTcpIo } from '../../src/proxy/tcp.js';
import { handleIo } from '../../src/proxy/tcp-handles.js';
import type { TcpIo } from '../../src/proxy/tcp-io.js';
import { netIo } from '../../src/proxy/tcp-net.js';
import { loadHandles } from '../../src/uv-handles.js';
import { waitFor } from '../helpers/processes.js';
import { REPO } from '../helpers/project.js';
import { unacceptingPort } from '../helpers/unaccepting.js';
import { openFds, useUpstreams } from '../helpers/upstreams.js';

const { tcpUpstream, proxy } = useUpstreams();

const handles = loadHandles();

/** Loads the fast path in a fresh Node (the built one in dist/, as `msup start` runs it) and says which. */
const PROBE = `import { loadHandles } from ${JSON.stringify(path.join(REPO, 'dist/uv-handles.js'))};
console.log(loadHandles() ? 'handles' : 'net');`;

it('reaches the handles without a warning, and takes the public path under --pending-deprecation', () => {
  const probe = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [...args, '--input-type=module', '-e', PROBE], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
  const plain = probe([]);
  expect([plain.stdout, plain.stderr]).toEqual(['handles\n', '']);
  expect(probe(['--pending-deprecation']).stdout).toBe('net\n');
  expect(probe([], { NODE_OPTIONS: '--pending-deprecation' }).stdout).toBe('net\n');
});

it('uses the handle fast path on this Node for an IPv4 front, and net.Socket for a name or IPv6', () => {
  expect(handles).toBeDefined();
  expect(defaultTcpIo('127.0.0.1')).not.toBe(netIo);
  expect(defaultTcpIo('0.0.0.0')).not.toBe(netIo);
  expect(defaultTcpIo('localhost')).toBe(netIo);
  expect(defaultTcpIo('::1')).toBe(netIo);
});

/** Deterministic bytes: `size` of them, from a counter. */
function payload(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >> 10)) & 0xff;
  return data;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** An instance that reads everything until the client's end, then answers `<bytes> <sha256>` and ends. */
const hasher = () =>
  tcpUpstream((socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
    });
    socket.on('end', () => socket.end(`${bytes} ${hash.digest('hex')}`));
  });

/** Connects, sends `data` and ends the write half; resolves with all it read until the proxy closed. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(data));
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** Connects and reports 'accepted' or the error code. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** A port whose connects hang (see the helper), closed after the test. */
async function unaccepting(): Promise<{ port: number }> {
  const stuck = await unacceptingPort();
  cleanups.push(stuck.close);
  return stuck;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const ios: [string, TcpIo][] = [['net.Socket', netIo]];
if (handles) ios.unshift(['libuv handles', handleIo(handles)]);

describe.each(ios)('tcp mode on %s', (_name, tcpIo) => {
  it('copies an upload byte for byte and passes the end of input on as a half-close', async () => {
    const { port, proxy: p } = await proxy([await hasher()], { mode: 'tcp', tcpIo });
    const data = payload(8 * 1024 * 1024 + 3);
    expect(String(await exchange(port, data))).toBe(`${data.length} ${sha(data)}`);
    expect(await exchange(port, Buffer.alloc(0))).toEqual(Buffer.from(`0 ${sha(Buffer.alloc(0))}`));
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
    expect(p.stats()[0]).toMatchObject({ requests: 2, errors: 0 });
  });

  it('passes on every byte the client sends after the instance closed its side first', async () => {
    let received = -1;
    // Says its piece and closes its side, then reads slowly what the client sends until the client's end.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.end('ready\n');
      let count = 0;
      socket.on('data', (d: Buffer) => {
        count += d.length;
        socket.pause();
        setTimeout(() => socket.resume(), 2);
      });
      socket.on('end', () => {
        received = count;
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = await proxy([(server.address() as net.AddressInfo).port], { mode: 'tcp', tcpIo });
    // More than the kernel's buffers on the way hold while the instance reads slowly: the last bytes are
    // still in msup when the client's end comes.
    const data = payload(16 * 1024 * 1024);
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    client.resume();
    // The instance's side has ended (its 'ready' and FIN came through): the client sends, then ends.
    await new Promise((resolve) => client.once('end', resolve));
    client.end(data);
    expect(await waitFor(() => received >= 0, 20_000)).toBe(true);
    expect(received).toBe(data.length);
    client.destroy();
  });

  it('holds a slow reader back: the instance has to wait, and every byte arrives in order', async () => {
    // More than the kernel's socket buffers on the way can hold (send 4 MiB, receive autotuned),
    // so while the client does not read, only a proxy that stops reading keeps the instance waiting.
    const data = payload(64 * 1024 * 1024);
    let pressed = false;
    let finished = false;
    const upstream = await tcpUpstream((socket) => {
      let offset = 0;
      const more = () => {
        while (offset < data.length) {
          const chunk = data.subarray(offset, offset + 64 * 1024);
          offset += chunk.length;
          if (!socket.write(chunk)) {
            pressed = true;
            socket.once('drain', more);
            return;
          }
        }
        socket.end(() => (finished = true));
      };
      more();
    });
    const { port } = await proxy([upstream], { mode: 'tcp', tcpIo });
    const socket = net.connect(port, '127.0.0.1');
    socket.pause();
    expect(await waitFor(() => pressed)).toBe(true);
    // A proxy that kept reading would take all 64 MiB into memory and let the instance finish.
    expect(await waitFor(() => finished, 1500)).toBe(false);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((resolve) => socket.on('close', resolve).resume());
    const received = Buffer.concat(chunks);
    expect(finished).toBe(true);
    expect(received.length).toBe(data.length);
    expect(sha(received)).toBe(sha(data));
  });

  it('closes the instance side when the client goes away, and the client side when the instance resets', async () => {
    const closedByPeer: string[] = [];
    const upstream = await tcpUpstream((socket) => {
      socket.on('close', () => closedByPeer.push('instance side closed'));
      socket.on('data', (d: Buffer) => {
        if (String(d) === 'reset') socket.resetAndDestroy();
        else socket.write(d);
      });
    });
    const { port, proxy: p } = await proxy([upstream], { mode: 'tcp', tcpIo });

    const client = net.connect(port, '127.0.0.1');
    client.write('ping');
    await new Promise((resolve) => client.once('data', resolve));
    client.destroy();
    expect(await waitFor(() => closedByPeer.length === 1)).toBe(true);

    const second = net.connect(port, '127.0.0.1');
    second.on('error', () => {});
    second.write('reset');
    await new Promise((resolve) => second.on('close', resolve));
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
    expect(p.stats()[0]).toMatchObject({ requests: 2 });
  });

  it('holds a connection while no instance is ready and sends it to the first that joins', async () => {
    const { port, proxy: p } = await proxy([], { mode: 'tcp', tcpIo, holdTimeoutMs: 10_000 });
    const answer = exchange(port, Buffer.from('hello'));
    const late = await hasher();
    setTimeout(() => p.add(`web#0:${late}`, 'web#0', { host: '127.0.0.1', port: late }), 100);
    expect(String(await answer)).toBe(`5 ${sha(Buffer.from('hello'))}`);
    const none = await proxy([], { mode: 'tcp', tcpIo, holdTimeoutMs: 50 });
    // Past the window with nothing ready, the connection is closed (reset: the client's bytes were unread).
    const outcome = await exchange(none.port, Buffer.from('x')).then(
      (answer) => `closed after ${answer.length} bytes`,
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect(['closed after 0 bytes', 'ECONNRESET']).toContain(outcome);
  });

  it('returns to its baseline of file descriptors after many connections', async () => {
    const { port, proxy: p } = await proxy([await hasher(), await hasher()], { mode: 'tcp', tcpIo });
    await exchange(port, Buffer.from('warm'));
    await waitFor(() => p.stats()[0]?.inFlight === 0 && p.stats()[1]?.inFlight === 0);
    const baseline = openFds();
    const small = Buffer.from('x'.repeat(100));
    for (let round = 0; round < 10; round++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => exchange(port, small)));
      for (const answer of answers) expect(String(answer)).toBe(`100 ${sha(small)}`);
    }
    expect(await waitFor(() => openFds() <= baseline)).toBe(true);
  });

  it('closes a listener whose close() came while it was binding', async () => {
    const p = new ServiceProxy('db', { mode: 'tcp', tcpIo });
    const bound = p.listen(0);
    await p.close();
    const port = await bound;
    expect(await connectOutcome(port)).toBe('ECONNREFUSED');
    await p.close(); // again: resolves
  });

  it('stops counting a connection that a drain cut while msup was still connecting it', async () => {
    const stuck = await unaccepting();
    const { port, proxy: p } = await proxy([stuck.port], { mode: 'tcp', tcpIo });
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    expect(await waitFor(() => p.stats()[0]?.inFlight === 1)).toBe(true);
    p.remove(`web#0:${stuck.port}`);
    await p.drain(`web#0:${stuck.port}`, 50);
    expect(await waitFor(() => p.stats()[0]?.inFlight === 0)).toBe(true);
    expect(p.stats()[0]).toMatchObject({ requests: 1, errors: 0 });
    client.destroy();
  });

  it('names the port and the service when the port is in use', async () => {
    const taken = await proxy([], { mode: 'tcp', tcpIo });
    const second = new ServiceProxy('db', { mode: 'tcp', tcpIo });
    const failure = await second.listen(taken.port).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MsupError);
    expect(failure).toMatchObject({ code: 'MSUP_PORT_IN_USE', port: taken.port, service: 'db' });
    expect(String((failure as Error).message)).toContain(`port ${taken.port} for service "db"`);
    await second.close();
  });
});
