// Restarts seen from the client: a single instance restarting costs no request (the hold window),
// a WebSocket survives the restart of another instance, load survives SIGKILLs and rolling restarts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, REPO, useProject } from '../helpers/project.js';

const project = useProject();

interface LoadResult {
  requests: { total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

/** A bounded autocannon run in its own process (loopback only); `rate` 0: as fast as it can. */
function load(url: string, seconds: number, connections = 8, rate = 800): Promise<LoadResult> {
  const bin = path.join(REPO, 'node_modules', '.bin', 'autocannon');
  const limit = rate > 0 ? ['-R', String(rate)] : [];
  const args = ['-c', String(connections), ...limit, '-d', String(seconds), '-t', '10', '-j', url];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch (error) {
        reject(new Error(`autocannon printed no JSON: ${out}`, { cause: error }));
      }
    });
  });
}

describe('restarts under traffic', () => {
  it('holds requests while the only instance restarts, so none fails', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({ web: { command: node('echo-server.js'), port: 0, health: { http: '/health' } } }),
    });
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const pid = sup.instances('web')[0]!.pid!;
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 5; i++) statuses.push((await request(sup.url('web'))).status);
      expect(sup.instances('web')[0]!.pid).not.toBe(pid);
    }
    expect(statuses).toEqual(Array(15).fill(200));
  });

  it('keeps a WebSocket open while another instance of the service restarts', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        ws: { command: node('echo-server.js'), instances: 2, port: 0, health: { http: '/health' } },
      }),
    });
    const socket = new WebSocket(sup.url('ws').replace('http', 'ws'));
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    await new Promise<void>((resolve, reject) => {
      socket.on('open', () => resolve());
      socket.on('error', reject);
    });
    socket.send('one');
    await waitFor(() => messages.length === 1);
    const mine = Number(/^ws#(\d):/.exec(messages[0]!)![1]);
    expect(sup.proxyStats('ws')[mine]?.inFlight).toBe(1);
    const other = sup.instances('ws')[1 - mine]!;
    process.kill(other.pid!, 'SIGKILL');
    expect(
      await waitFor(() => {
        const now = sup.instances('ws')[1 - mine]!;
        return now.ready && now.pid !== other.pid;
      }),
    ).toBe(true);
    socket.send('two');
    await waitFor(() => messages.length === 2);
    expect(messages).toEqual([`ws#${mine}: one`, `ws#${mine}: two`]);
    socket.close();
    expect(await waitFor(() => sup.proxyStats('ws')[mine]?.inFlight === 0)).toBe(true);
  });

  it('loses no GET under load while an instance is SIGKILLed every second for 10 s', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 3, port: 0, health: { http: '/health' } },
      }),
    });
    const running = load(`${sup.url('web')}/`, 11);
    for (let k = 0; k < 10; k++) {
      await new Promise((r) => setTimeout(r, 1000));
      const victim = sup.instances('web')[k % 3]!;
      if (victim.pid) process.kill(victim.pid, 'SIGKILL');
    }
    const result = await running;
    expect(result.requests.total).toBeGreaterThan(1000);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx }).toEqual({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    });
    expect(await waitFor(() => sup.instances('web').every((i) => i.ready), 20_000)).toBe(true);
    const stats = sup.proxyStats('web');
    expect(Object.keys(stats)).toEqual(['0', '1', '2']);
  }, 60_000);

  it('loses no GET over 16 connections to 2 instances, one SIGKILLed every second', async () => {
    // Each kill resets every request in flight on the dead instance at once, more than the retry
    // budget's floor: those retries are free, because the instance's port refuses connections.
    // (2,000 requests/s, not as fast as it can: the other test file running meanwhile needs a core.)
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 2, port: 0, health: { http: '/health' } },
      }),
    });
    const running = load(`${sup.url('web')}/`, 9, 16, 2000);
    let kills = 0;
    for (let k = 0; k < 8; k++) {
      await new Promise((r) => setTimeout(r, 1000));
      const victim = sup.instances('web').find((i) => i.ready && i.pid);
      if (victim?.pid) {
        process.kill(victim.pid, 'SIGKILL');
        kills++;
      }
    }
    const result = await running;
    expect(kills).toBeGreaterThanOrEqual(6);
    expect(result.requests.total).toBeGreaterThan(1000);
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx }).toEqual({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    });
  }, 60_000);

  it('loses no request under load while every instance is restarted (rolling)', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 3, port: 0, health: { http: '/health' } },
      }),
    });
    const running = load(`${sup.url('web')}/`, 6);
    await new Promise((r) => setTimeout(r, 500));
    const before = sup.instances('web').map((i) => i.pid);
    await sup.restart('web');
    const result = await running;
    expect(sup.instances('web').map((i) => i.pid)).not.toEqual(expect.arrayContaining(before));
    expect({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx }).toEqual({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    });
  }, 60_000);
});
