// Readiness and liveness as Kubernetes separates them, and dependsOn, with real processes.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InstanceInfo, LogRecord } from '../../src/index.js';
import { getJson, request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();
const fast = { interval: '150ms', timeout: '150ms', failureThreshold: 2 };

describe('readiness and liveness', () => {
  it('takes a hung instance out of rotation and restarts it', async () => {
    const p = project();
    const sup = p.create({
      config: p.config({
        web: {
          command: node('echo-server.js'),
          instances: 2,
          port: 0,
          health: { http: '/health', ...fast },
          stopTimeout: '300ms',
        },
      }),
    });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    const hung = sup.instances('web')[0]!;
    await request(`http://127.0.0.1:${hung.port}/hang`);
    expect(
      await waitFor(() => !sup.instances('web')[0]!.ready || sup.instances('web')[0]!.restarts > 0),
    ).toBe(true);
    const restarted = () => {
      const i = sup.instances('web')[0]!;
      return i.restarts === 1 && i.ready && i.pid !== hung.pid;
    };
    expect(await waitFor(restarted, 15_000)).toBe(true);
    const failure = logs.find((r) => r.msg === 'liveness failed: restarting');
    expect(failure).toMatchObject({ service: 'web', instance: 0, pid: hung.pid });
    expect(logs.find((r) => r.msg === 'exited' && r.pid === hung.pid)).toMatchObject({
      reason: 'liveness probe failed',
      signal: 'SIGKILL', // its event loop is blocked, so only SIGKILL ends it
    });
    expect(sup.instances('web')[1]!.restarts).toBe(0);
  });

  it('keeps an unready instance out of rotation without restarting it', async () => {
    const p = project();
    const flag = path.join(p.root, 'unready');
    const sup = await p.start({
      config: p.config({
        web: {
          command: node('echo-server.js'),
          instances: 2,
          port: 0,
          env: { UNREADY_IF_EXISTS: `${flag}-{i}` },
          readiness: { http: '/ready', ...fast },
          liveness: { http: '/health', ...fast },
        },
      }),
    });
    // Each instance looks at its own flag file; only instance 0's exists.
    p.write('unready-0', 'x');
    const out = () => !sup.instances('web')[0]!.ready;
    expect(await waitFor(out, 10_000)).toBe(true);
    const served = new Set<number>();
    for (let i = 0; i < 6; i++) served.add((await getJson<{ instance: number }>(sup.url('web'))).instance);
    expect(served).toEqual(new Set([1]));
    rmSync(`${flag}-0`);
    expect(await waitFor(() => sup.instances('web')[0]!.ready, 10_000)).toBe(true);
    expect(sup.instances('web').map((i: InstanceInfo) => i.restarts)).toEqual([0, 0]);
  });
});

describe('exec probes', () => {
  /**
   * A supervisor (not started) of one echo server, `name`, whose exec readiness probe passes until the project's
   * `down` file exists, then runs `failing` (a shell list).
   */
  const failingOnceDown = (name: string, failing: string, probe: Record<string, unknown> = {}) => {
    const p = project();
    const flag = path.join(p.root, 'down');
    const sup = p.create({
      config: p.config({
        [name]: {
          command: node('echo-server.js'),
          port: 0,
          readiness: {
            exec: `test ! -e '${flag}' || { ${failing}; }`,
            interval: '100ms',
            timeout: '5s',
            ...probe,
          },
        },
      }),
    });
    return { p, sup };
  };

  it("shows what a failed exec probe's command wrote, with its exit code, in the log and the status", async () => {
    const p = project();
    const flag = path.join(p.root, 'down');
    // Passes until the flag exists; then writes `said` (a printf format) on stderr and exits with `code`.
    const check = (code: number, said: string) => ({
      exec: `test ! -e '${flag}' || { printf '${said}' >&2; exit ${code}; }`,
      interval: '150ms',
      timeout: '5s',
      failureThreshold: 2,
    });
    const sup = p.create({
      config: p.config({
        // Readiness only (no liveness): it leaves rotation and stays.
        ready: {
          command: node('echo-server.js'),
          port: 0,
          readiness: check(3, 'checking the queue\\n\\033[31mqueue full\\033[0m\\n'),
        },
        live: { command: node('echo-server.js'), port: 0, liveness: check(1, 'worker stuck\\n') },
        quiet: { command: node('echo-server.js'), port: 0, readiness: check(2, ' \\n') },
      }),
    });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    p.write('down', '');
    const logged = (msg: string, service: string) => logs.find((r) => r.msg === msg && r.service === service);
    expect(
      await waitFor(
        () =>
          logged('not ready', 'ready') !== undefined &&
          logged('not ready', 'quiet') !== undefined &&
          logged('liveness failed: restarting', 'live') !== undefined,
        15_000,
      ),
    ).toBe(true);
    // The end of its output, on one line, its escape sequences shown, never sent to the terminal.
    const queue =
      'exec exited with code 3; last output: "checking the queue\\n\\u001b[31mqueue full\\u001b[0m"';
    expect(logged('not ready', 'ready')).toMatchObject({ instance: 0, detail: queue });
    expect(logged('readiness probe failing', 'ready')).toMatchObject({ instance: 0, detail: queue });
    expect(sup.instances('ready')[0]?.lastProbe).toMatchObject({ ok: false, detail: queue });
    expect(logged('liveness failed: restarting', 'live')).toMatchObject({
      instance: 0,
      detail: 'exec exited with code 1; last output: "worker stuck"',
    });
    // A command that wrote nothing (white space only) says its exit code only.
    expect(logged('not ready', 'quiet')).toMatchObject({ detail: 'exec exited with code 2' });
  });

  it('logs a failing probe whose output changes at every probe (a timestamp) once, its latest output in the status', async () => {
    // Once down, prints the time in nanoseconds and fails.
    const { p, sup } = failingOnceDown('clock', 'date +%s%N; exit 1', { failureThreshold: 1000 });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    p.write('down', '');
    const failing = () => logs.filter((r) => r.msg === 'readiness probe failing' && r.service === 'clock');
    expect(await waitFor(() => failing().length > 0, 15_000)).toBe(true);
    // Several more probes, each with another output, after the first was logged.
    const seen = new Set<string>();
    expect(
      await waitFor(() => {
        const detail = sup.instances('clock')[0]?.lastProbe?.detail;
        if (detail) seen.add(detail);
        return seen.size >= 5;
      }, 15_000),
    ).toBe(true);
    expect(failing()).toHaveLength(1);
    expect(failing()[0]?.detail).toMatch(/^exec exited with code 1; last output: "\d+"$/);
    expect(sup.instances('clock')[0]?.lastProbe?.detail).toMatch(
      /^exec exited with code 1; last output: "\d+"$/,
    );
  });

  it('shows the end of a long output of multi-byte characters, from a whole character, after a `…`', async () => {
    // 400 € (1200 bytes) and 702 spaces in one write: the 1 KiB kept begins in the middle of a €, and once its
    // trailing spaces are trimmed, fewer than 300 characters are left (no `…` of their own).
    const { p, sup } = failingOnceDown('euro', `printf "$(printf '€%.0s' $(seq 400))%702s" ''; exit 1`);
    await sup.start();
    p.write('down', '');
    expect(await waitFor(() => sup.instances('euro')[0]?.lastProbe?.ok === false, 15_000)).toBe(true);
    const detail = sup.instances('euro')[0]?.lastProbe?.detail ?? '';
    expect(detail).not.toContain('\uFFFD');
    expect(detail).toBe(`exec exited with code 1; last output: "…${'€'.repeat(107)}"`);
  });
});

describe('dependsOn', () => {
  it('starts a service after its dependencies reach their conditions, and stops it first', async () => {
    const p = project();
    const sup = p.create({
      config: p.config({
        api: {
          command: node('echo-server.js'),
          port: 0,
          dependsOn: { db: 'ready', migrate: 'completed' },
        },
        db: { command: node('slow-start.js'), port: 0, env: { START_DELAY_MS: 300 } },
        migrate: { command: ['sh', '-c', 'sleep 0.3; echo migrated'], restart: 'on-failure' },
      }),
    });
    const events: string[] = [];
    sup.on('log', (r) => {
      if (['starting', 'ready', 'exited', 'waiting for dependencies'].includes(r.msg))
        events.push(`${r.msg}:${r.service}`);
    });
    sup.on('instance', (i) => {
      if (i.state === 'stopped') events.push(`stopped:${i.service}`);
    });
    await sup.start();
    expect(sup.instances('migrate')[0]).toMatchObject({ state: 'exited', lastExit: { code: 0 } });
    const at = (e: string) => events.indexOf(e);
    expect(at('waiting for dependencies:api')).toBeGreaterThanOrEqual(0);
    expect(at('starting:api')).toBeGreaterThan(at('ready:db'));
    expect(at('starting:api')).toBeGreaterThan(at('exited:migrate'));
    expect((await request(sup.url('api'))).status).toBe(200);
    await sup.stop();
    expect(at('stopped:api')).toBeGreaterThanOrEqual(0);
    expect(at('stopped:api')).toBeLessThan(at('stopped:db'));
  });

  it('shows waiting instances in status while dependencies come up', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({
        web: { command: node('echo-server.js'), port: 0, dependsOn: ['db'], holdTimeout: 0 },
        db: { command: node('slow-start.js'), port: 0, env: { START_DELAY_MS: 60_000 } },
      }),
    });
    expect(sup.instances('web')).toMatchObject([{ state: 'waiting', pid: null, ready: false }]);
    expect((await request(sup.url('web'))).status).toBe(503);
  });
});
