// Operating a running supervisor: rolling restart, scale, status, stop, without dropping requests.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMsupError, type MsupError } from '../../src/index.js';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();

describe('operations', () => {
  it('rolls every instance under continuous load with zero failed requests', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 3, port: 0, health: { http: '/health' } },
      }),
    });
    const before = sup.instances('web').map((i) => i.pid);
    const load = startLoad(sup.url('web'), { clients: 4 });
    await waitFor(() => load.result.ok > 50);
    const [result] = await sup.restart('web');
    await waitFor(() => load.result.ok > 0 && sup.instances('web').every((i) => i.ready));
    const countAfterRestart = load.result.ok;
    await waitFor(() => load.result.ok > countAfterRestart + 50);
    const totals = await load.stop();
    expect(result).toEqual({ service: 'web', restarted: [0, 1, 2], failed: null });
    expect(totals.failed).toEqual([]);
    expect(totals.ok).toBeGreaterThan(100);
    const after = sup.instances('web');
    expect(after.map((i) => i.index)).toEqual([0, 1, 2]);
    expect(after.every((i) => i.ready && i.state === 'running' && i.restarts === 1)).toBe(true);
    for (const pid of before) expect(after.map((i) => i.pid)).not.toContain(pid);
    // Both old and new processes served during the run.
    expect(totals.instances.size).toBe(6);
  });

  it('keeps the old instance and reports when a replacement never becomes ready', async () => {
    const p = project();
    const flag = path.join(p.root, 'broken');
    const sup = await p.start({
      config: p.config({
        web: {
          command: node('echo-server.js'),
          instances: 2,
          port: 0,
          env: { FAIL_IF_EXISTS: flag },
          restart: { initialDelay: '20ms' },
        },
      }),
    });
    const before = sup.instances('web').map((i) => i.pid);
    p.write('broken', 'yes');
    const load = startLoad(sup.url('web'), { clients: 2 });
    const error = await sup.restart('web', { readyTimeout: '5s' }).catch((e: unknown) => e);
    const totals = await load.stop();
    expect(isMsupError(error, 'MSUP_RESTART_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/stopped at web#0: replacement exited with code 1/);
    expect((error as MsupError).rollouts).toEqual([
      {
        service: 'web',
        restarted: [],
        failed: { index: 0, reason: expect.stringMatching(/exited with code 1/) },
      },
    ]);
    expect(sup.instances('web').map((i) => i.pid)).toEqual(before);
    expect(totals.failed).toEqual([]);
    expect(sup.services()[0]?.stderrTail.at(-1)).toContain('refusing to start');
  });

  it("gives a replacement its service's startTimeout, and says what the last probe got", async () => {
    const p = project();
    // .env is read at every launch: the first start listens at once, every replacement hangs before it listens.
    p.write('.env', 'START_DELAY_MS=0\n');
    const sup = await p.start({
      config: p.config({ web: { command: node('slow-start.js'), port: 0, startTimeout: '3s' } }),
    });
    const before = sup.instances('web')[0]!.pid;
    p.write('.env', 'START_DELAY_MS=600000\n');
    // No readyTimeout: the replacement has what a first start has (3 s here, not 60 s).
    const error = await sup.restart('web').catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_RESTART_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(
      /stopped at web#0: replacement not ready within 3000ms \(startTimeout\); last probe: tcp connect failed: .*ECONNREFUSED/,
    );
    // An explicit readyTimeout still decides.
    const shorter = await sup.restart('web', { readyTimeout: '1s' }).catch((e: unknown) => e);
    expect((shorter as Error).message).toMatch(/replacement not ready within 1000ms \(readyTimeout\)/);
    expect(sup.instances('web')[0]).toMatchObject({ pid: before, ready: true });
  });

  it('scales up and down at runtime; scaling down lets in-flight requests finish', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 2, port: 0, drainTimeout: '10s' },
      }),
    });
    await sup.scale('web', 4);
    expect(await waitFor(() => sup.instances('web').filter((i) => i.ready).length === 4)).toBe(true);
    expect(sup.instances('web').map((i) => i.index)).toEqual([0, 1, 2, 3]);
    // Slow requests land on every instance, then two instances leave while they are in flight.
    const slow = Array.from({ length: 4 }, () => request(`${sup.url('web')}/slow?ms=700`));
    await new Promise((r) => setTimeout(r, 100));
    await sup.scale('web', 2);
    const replies = await Promise.all(slow);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(replies.map((r) => JSON.parse(r.body).instance))).toEqual(new Set([0, 1, 2, 3]));
    expect(sup.instances('web').map((i) => i.index)).toEqual([0, 1]);
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) seen.add(JSON.parse((await request(sup.url('web'))).body).instance);
    expect(seen).toEqual(new Set([0, 1]));
    await expect(sup.scale('web', -1)).rejects.toThrow(/whole number/);
    // Down to zero: nothing serves, and back up.
    await sup.scale('web', 0);
    expect(sup.instances('web')).toEqual([]);
    await sup.scale('web', 1);
    expect(await waitFor(() => sup.instances('web')[0]?.ready === true)).toBe(true);
    expect((await request(sup.url('web'))).status).toBe(200);
  });

  it('reports status with uptime, CPU, memory and readiness', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        web: { command: node('echo-server.js'), instances: 2, port: 0 },
        worker: { command: node('worker.js') },
      }),
    });
    const status = await sup.status();
    expect(status).toMatchObject({ version: 1, project: p.root, pid: process.pid, ready: true });
    expect(status.services.map((s) => s.name)).toEqual(['web', 'worker']);
    const web = status.services[0]!;
    expect(web.url).toBe(sup.url('web'));
    for (const i of web.instances) {
      expect(i).toMatchObject({ state: 'running', ready: true, restarts: 0, lastExit: null });
      expect(i.memoryBytes).toBeGreaterThan(1_000_000);
      expect(i.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(i.uptimeMs).toBeGreaterThan(0);
    }
  });
});
