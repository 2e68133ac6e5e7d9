// The http and tcp probes against real sockets: an http probe's timeout bounds the whole attempt (a server
// that trickles its headers fails it), a health path that streams never keeps a connection per probe (a
// monitor sends the next one once the last is closed), and a stopped monitor leaves no probe under way,
// even a tcp connect that hangs. An exec probe's command as a process: the end of its output kept.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startMonitor } from '../../src/health/monitor.js';
import { type ProbeResult, runProbe } from '../../src/health/probe.js';
import { OUTPUT_KEEP_BYTES, runGuarded } from '../../src/runtime/run-command.js';
import { waitFor } from '../helpers/processes.js';
import { unacceptingPort } from '../helpers/unaccepting.js';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy(); // after a failed test
  sockets.clear();
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

function connections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

const probe = (port: number, timeoutMs: number, signal?: AbortSignal) =>
  runProbe(
    { kind: 'http', path: '/health' },
    {
      endpoint: { host: '127.0.0.1', port },
      exec: () => Promise.reject(new Error('no exec here')),
      ...(signal ? { signal } : {}),
    },
    timeoutMs,
  );

describe('http probe', () => {
  it('fails a server that trickles its headers once the timeout is up, whatever it still sends', async () => {
    const trickles: NodeJS.Timeout[] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => {}).resume();
      // A byte of the status line every 50 ms: the socket is never idle for long.
      const line = `HTTP/1.1 200 OK\r\nX-Slow: ${'a'.repeat(1000)}`;
      let at = 0;
      const timer = setInterval(() => {
        if (at < line.length && !socket.destroyed) socket.write(line[at++] as string);
      }, 50);
      trickles.push(timer);
      socket.on('close', () => clearInterval(timer));
    });
    const port = await listen(server);
    try {
      const result = await Promise.race([
        probe(port, 300),
        new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
      ]);
      expect(result).toEqual({ ok: false, detail: 'GET /health failed: timed out after 300ms' });
      expect(await waitFor(async () => (await connections(server)) === 0, 5000)).toBe(true);
    } finally {
      for (const timer of trickles) clearInterval(timer);
    }
  });

  it('closes its connection to a health path that streams its body without end', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: up\n\n');
      const timer = setInterval(() => res.write('data: still up\n\n'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const port = await listen(server);
    for (let i = 0; i < 5; i++) {
      expect(await probe(port, 200)).toEqual({ ok: true, detail: 'GET /health answered 200' });
    }
    // Each one is closed by its probe's timeout at the latest: none is left.
    expect(await waitFor(async () => (await connections(server)) === 0, 5000)).toBe(true);
  });

  it('sends the next probe once the last one is closed, even with a timeout far above the interval', async () => {
    // Each answer streams its body for a while (10 chunks, 30 ms apart) before it ends.
    const othersOpen: number[] = [];
    const server = http.createServer((_req, res) => {
      othersOpen.push(sockets.size - 1);
      res.writeHead(200, { 'content-type': 'text/plain' });
      let chunks = 0;
      const timer = setInterval(() => {
        if (++chunks < 10) res.write('still checking\n');
        else res.end('up\n');
      }, 30);
      res.on('close', () => clearInterval(timer));
    });
    const port = await listen(server);
    const results: ProbeResult[] = [];
    const monitor = startMonitor(
      {
        probe: { kind: 'http', path: '/health' },
        intervalMs: 10,
        timeoutMs: 60_000,
        failureThreshold: 1,
        successThreshold: 1,
        initialDelayMs: 0,
      },
      { endpoint: { host: '127.0.0.1', port }, exec: () => Promise.reject(new Error('no exec here')) },
      { onReady: () => {}, onUnready: () => {}, onResult: (result) => results.push(result) },
    );
    try {
      expect(await waitFor(() => othersOpen.length >= 3)).toBe(true);
    } finally {
      await monitor.stop();
    }
    // Each probe came alone: the one before it had been closed.
    expect(othersOpen.slice(0, 3)).toEqual([0, 0, 0]);
    expect(results.slice(0, 2)).toEqual([
      { ok: true, detail: 'GET /health answered 200' },
      { ok: true, detail: 'GET /health answered 200' },
    ]);
    // The stop ended the one under way, body and all.
    expect(await waitFor(async () => (await connections(server)) === 0, 5000)).toBe(true);
  });

  it('ends a probe under way when its monitor stops', async () => {
    // It reads (and drops) the request, so it sees the probe's close.
    const server = net.createServer((socket) => socket.on('error', () => {}).resume());
    const port = await listen(server);
    const abort = new AbortController();
    const result = probe(port, 60_000, abort.signal);
    // Stopped once the instance has the connection and the probe waits for its answer.
    expect(await waitFor(async () => (await connections(server)) === 1, 5000)).toBe(true);
    abort.abort();
    expect(await result).toEqual({ ok: false, detail: 'GET /health failed: the probe was stopped' });
    expect(await waitFor(async () => (await connections(server)) === 0, 5000)).toBe(true);
  });
});

/** The result, or a note that it is still awaited after 10 s (the probes below have a 60 s timeout). */
const within10s = <T>(promise: Promise<T>) =>
  Promise.race([promise, new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000))]);

/** TCP sockets this process holds, a connect under way included. */
const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

describe('tcp probe', () => {
  it('ends a connect that hangs (a port past its accept backlog) when its monitor stops', async () => {
    const stuck = await unacceptingPort();
    try {
      const before = tcpSockets();
      const abort = new AbortController();
      const result = runProbe(
        { kind: 'tcp' },
        {
          endpoint: { host: '127.0.0.1', port: stuck.port },
          exec: () => Promise.reject(new Error('no exec here')),
          signal: abort.signal,
        },
        60_000,
      );
      // Stopped once the connect is under way (and stays so: the kernel drops its SYNs).
      expect(await waitFor(() => tcpSockets() > before)).toBe(true);
      abort.abort();
      expect(await within10s(result)).toEqual({
        ok: false,
        detail: 'tcp connect failed: the probe was stopped',
      });
    } finally {
      await stuck.close();
    }
  });

  it("lets a monitor stop at once, a connect under way or not, so an exit or msup's stop never waits for it", async () => {
    const stuck = await unacceptingPort();
    try {
      const before = tcpSockets();
      const monitor = startMonitor(
        {
          probe: { kind: 'tcp' },
          intervalMs: 1000,
          timeoutMs: 60_000,
          failureThreshold: 1,
          successThreshold: 1,
          initialDelayMs: 0,
        },
        {
          endpoint: { host: '127.0.0.1', port: stuck.port },
          exec: () => Promise.reject(new Error('no exec')),
        },
        { onReady: () => {}, onUnready: () => {} },
      );
      // The first probe's connect is under way (and stays so: the kernel drops its SYNs).
      expect(await waitFor(() => tcpSockets() > before)).toBe(true);
      expect(await within10s(monitor.stop())).toBeUndefined();
      expect(await waitFor(() => tcpSockets() === before)).toBe(true);
    } finally {
      await stuck.close();
    }
  });
});

describe('exec probe command (a process)', () => {
  const host = { guard: () => () => {} };
  const run = (script: string, timeoutMs = 10_000) =>
    runGuarded(host, { shell: false, argv: ['/bin/sh', '-c', script] }, { cwd: '/tmp', env: {}, timeoutMs });

  it('keeps the end of what it wrote, stdout and stderr, bounded', async () => {
    const result = await run("head -c 100000 /dev/zero | tr '\\0' x; echo; echo 'db down'; exit 1");
    expect(result).toMatchObject({ code: 1, signal: null, timedOut: false });
    // Its last OUTPUT_KEEP_BYTES, after a `…` that says there was more.
    expect(result.output?.length).toBe(OUTPUT_KEEP_BYTES + 1);
    expect(result.output?.startsWith('…x')).toBe(true);
    expect(result.output?.endsWith('x\ndb down\n')).toBe(true);
    expect(await run("echo 'on stderr' >&2; exit 2")).toEqual({
      code: 2,
      signal: null,
      timedOut: false,
      output: 'on stderr\n',
    });
    expect(await run('exit 3')).toEqual({ code: 3, signal: null, timedOut: false });
  });

  it('shows, when it runs out of time, what it wrote before its group was killed', async () => {
    const result = await runProbe(
      {
        kind: 'exec',
        command: { shell: false, argv: ['/bin/sh', '-c', 'echo "waiting for the db"; exec sleep 30'] },
      },
      {
        endpoint: null,
        exec: (command, options) => runGuarded(host, command, { cwd: '/tmp', env: {}, ...options }),
      },
      2000,
    );
    expect(result).toEqual({
      ok: false,
      detail: 'exec timed out after 2000ms; last output: "waiting for the db"',
      reason: 'exec timed out after 2000ms',
    });
  });

  it('has its verdict by its timeout even when something outside its group holds its output open', async () => {
    const fifo = `/tmp/msup-probe-daemon-${process.pid}`;
    // A daemon in a session of its own (its group is not killed), with the probe's stdout and stderr; the
    // probe exits once the daemon is in its session, saying its pid.
    const result = await run(
      `mkfifo ${fifo}; setsid sh -c 'echo $$ > ${fifo}; exec sleep 60' & read pid < ${fifo}; rm ${fifo}; echo "daemon $pid"; exit 1`,
      2000,
    );
    const daemon = Number(/^daemon (\d+)\n$/.exec(result.output ?? '')?.[1]);
    try {
      expect(result).toEqual({ code: 1, signal: null, timedOut: false, output: `daemon ${daemon}\n` });
    } finally {
      if (daemon > 0) process.kill(daemon, 'SIGKILL');
    }
  });
});
