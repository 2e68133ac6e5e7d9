// msup under a low file-descriptor limit, flooded with idle connections: each front refuses what is
// past its share (derived from the limit), and where msup still runs out of descriptors (a limit set
// too high on purpose) it logs, skips its probes instead of blaming the instances, and keeps running.
// Either way the instances keep answering, none is restarted, and msup's descriptors return to where
// they were once the clients leave.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { StatusV1 } from '../../src/control/protocol.js';
import { connectionBudget, defaultShare } from '../../src/proxy/connection-limits.js';
import { BIN } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { fixture, type Project, useProject } from '../helpers/project.js';

const project = useProject();

const echo = {
  command: ['node', fixture('echo-server.js')],
  port: 0,
  // Readiness and liveness, every second: three failures in a row would restart an instance.
  health: { http: '/health', interval: '1s' },
};

/** The demo's shape: web (2) and api (1), each on its own front, and the shared front routing to both. */
function demo(p: Project, webMaxConnections?: number): void {
  const { services } = p.config({
    web: { ...echo, instances: 2, ...(webMaxConnections ? { maxConnections: webMaxConnections } : {}) },
    api: { ...echo, instances: 1 },
  });
  const proxy = {
    port: 0,
    routes: [
      { path: '/api', service: 'api', stripPrefix: true },
      { path: '/', service: 'web' },
    ],
  };
  p.write('supervisor.config.json', JSON.stringify({ services, proxy }));
}

/** `msup start` under `prlimit --nofile=N:N`; stopped after the test. */
function startLimited(p: Project, nofile: number) {
  const child: ChildProcess = spawn(
    'prlimit',
    [`--nofile=${nofile}:${nofile}`, process.execPath, BIN, 'start', '--json', '--no-watch'],
    { cwd: p.root, env: p.env(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  p.onCleanup(async () => {
    if (exited) return;
    child.kill('SIGTERM');
    if (!(await waitFor(() => exited, 15_000))) child.kill('SIGKILL');
    await exit;
  });
  return { out: () => out, alive: () => !exited };
}

async function status(p: Project): Promise<StatusV1> {
  const { controlRequest } = await import('../../src/control/client.js');
  return controlRequest<StatusV1>(p.root, { cmd: 'status' });
}

const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** `count` idle connections to a port; resolves once each was accepted and held, or closed by msup. */
async function flood(port: number, count: number) {
  const sockets: net.Socket[] = [];
  let refused = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          sockets.push(socket);
          socket.on('error', () => {});
          socket.once('close', () => {
            refused++;
            resolve();
          });
          socket.once('connect', () => setTimeout(resolve, 200));
        }),
    ),
  );
  return {
    sockets,
    refused: () => refused,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** A GET sent over one of the idle connections msup accepted. */
function getOver(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d) => {
      text += d;
      if (text.includes('\r\n\r\n') && text.includes('"service"')) resolve(text);
    });
    socket.write('GET /over-held HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

async function baseline(pid: number): Promise<number> {
  // The least over a few samples: a probe's socket may be open at any one moment.
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    least = Math.min(least, fdsOf(pid));
    await sleep(50);
  }
  return least;
}

describe('idle connections past the file-descriptor limit', () => {
  it('each front refuses past its share of the limit; the demo keeps answering, nothing restarts', async () => {
    const p = project();
    demo(p);
    const run = startLimited(p, 1024);
    await waitFor(() => run.out().includes('"msg":"all ready"'), 20_000);
    const before = await status(p);
    const web = Number(new URL(before.services[0]?.url as string).port);
    const api = before.services[1]?.url as string;
    const shared = before.sharedFront as string;
    const base = await baseline(before.pid);
    // Three fronts (web, api, the shared one): each gets a third of the budget.
    const share = defaultShare(connectionBudget(1024), 3);

    const idle = await flood(web, 1100);
    try {
      expect(idle.refused()).toBeGreaterThanOrEqual(1100 - share);
      expect(idle.refused()).toBeLessThan(1100);
      expect(run.out()).toContain(`"maxConnections":${share},"msg":"connection limit reached`);
      // Past three probe periods: a probe failing for msup's shortage would have restarted instances.
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        expect((await request(api)).status).toBe(200);
        expect((await request(`${shared}/api/x`)).status).toBe(200);
        expect((await request(`${shared}/`)).status).toBe(200);
        await sleep(250);
      }
      const held = idle.sockets.find((s) => !s.destroyed) as net.Socket;
      expect(await getOver(held)).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      idle.close();
    }
    const after = await status(p);
    expect(after.ready).toBe(true);
    expect(after.services.flatMap((s) => s.instances.map((i) => i.restarts))).toEqual([0, 0, 0]);
    expect(await waitFor(() => fdsOf(before.pid) <= base, 15_000)).toBe(true);
    expect(run.alive()).toBe(true);
  });

  it('out of descriptors anyway (a limit set too high), msup skips its probes and keeps running', async () => {
    const p = project();
    demo(p, 5000);
    const run = startLimited(p, 512);
    await waitFor(() => run.out().includes('"msg":"all ready"'), 20_000);
    const before = await status(p);
    const web = Number(new URL(before.services[0]?.url as string).port);
    const base = await baseline(before.pid);

    const idle = await flood(web, 1000);
    try {
      expect(await waitFor(() => fdsOf(before.pid) >= 500, 5000)).toBe(true);
      // Three failed probes in a row would restart an instance: wait well past that.
      await sleep(5000);
      expect(run.out()).toContain('"msg":"probe skipped: msup is short of file descriptors"');
      expect(run.alive()).toBe(true);
    } finally {
      idle.close();
    }
    expect(await waitFor(() => fdsOf(before.pid) <= base, 15_000)).toBe(true);
    const after = await status(p);
    expect(after.ready).toBe(true);
    expect(after.services.flatMap((s) => s.instances.map((i) => i.restarts))).toEqual([0, 0, 0]);
    expect((await request(before.services[0]?.url as string)).status).toBe(200);
    expect(run.out()).not.toContain('liveness failed');
  });
});
