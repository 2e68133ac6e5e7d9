// Supervision with real child processes: restarts, crash loops, process groups, bad input, projects.
import { execSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMsupError, type LogRecord, type MsupError } from '../../src/index.js';
import { request } from '../helpers/http.js';
import { expectNoTaggedProcesses, taggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, node, useProject } from '../helpers/project.js';

const project = useProject();

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('supervision', () => {
  it('backs off with growing delays, then shows a crash loop with the exit code and stderr', async () => {
    const p = project();
    const sup = p.create({
      wait: false,
      config: p.config({
        broken: {
          command: node('crash-on-start.js'),
          restart: { initialDelay: '20ms', multiplier: 2, maxDelay: '2s', crashLoopAfter: 5 },
        },
      }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    expect(await waitFor(() => sup.instances('broken')[0]?.state === 'crash-loop', 10_000)).toBe(true);
    const delays = records.filter((r) => r.msg === 'restarting').map((r) => r.delayMs as number);
    expect(delays).toHaveLength(4);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]!);
    const loop = records.find((r) => r.msg === 'crash loop')!;
    expect(loop.last).toBe('exited with code 3');
    expect(String(loop.stderr)).toContain('DATABASE_URL is not set');
    const info = sup.instances('broken')[0]!;
    expect(info.lastExit?.code).toBe(3);
    expect(info.restarts).toBe(4);
    expect(sup.services()[0]?.stderrTail.at(-1)).toContain('DATABASE_URL is not set');
  });

  it('keeps backing off with little CPU, and does not disturb the other services', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({
        broken: { command: node('crash-on-start.js'), restart: { initialDelay: '10ms', maxDelay: '400ms' } },
        web: { command: node('echo-server.js'), instances: 2, port: 0 },
      }),
    });
    expect(await waitFor(() => sup.instances('broken')[0]!.restarts >= 6, 10_000)).toBe(true);
    expect(await waitFor(() => sup.instances('web').every((i) => i.ready))).toBe(true);
    const before = process.cpuUsage();
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await request(sup.url('web'))).status).toBe(200);
    await waitFor(() => Date.now() - started > 1500, 5000);
    const used = process.cpuUsage(before);
    // A generous bound: backing off is timers, not a busy loop.
    expect((used.user + used.system) / 1000).toBeLessThan(750);
    expect(sup.instances('web').every((i) => i.ready && i.restarts === 0)).toBe(true);
  });

  it('start() rejects with MSUP_START_FAILED naming the service, and stops what it started', async () => {
    const p = project();
    const error = await p
      .start({
        config: p.config({
          web: { command: node('echo-server.js'), port: 0 },
          broken: {
            command: node('crash-on-start.js'),
            restart: { initialDelay: '10ms', crashLoopAfter: 3 },
            // Without a probe, 500 ms up counts as started, and on a loaded machine node can take that
            // long to boot and crash: a probe it never passes keeps this test about the crash loop.
            readiness: { exec: ['node', '-e', 'process.exit(1)'] },
          },
        }),
      })
      .catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_START_FAILED')).toBe(true);
    const e = error as MsupError;
    expect(e.service).toBe('broken');
    expect(e.message).toContain('exited with code 3');
    expect(e.message).toContain('DATABASE_URL is not set');
    await expectNoTaggedProcesses(p.tag, 3000);
  });

  it('reports a command that does not exist as a start failure', async () => {
    const p = project();
    const error = await p
      .start({
        config: p.config({
          ghost: { command: ['/nonexistent/msup-no-such-binary'], restart: 'never' },
        }),
      })
      .catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_START_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/ghost#0 could not start: .*ENOENT/);
  });

  it('refuses a cwd that does not exist as the config loads, and names one removed later at launch', async () => {
    const p = project();
    const error = await p
      .start({
        config: p.config({ lost: { command: node('worker.js'), cwd: 'no-such-folder', restart: 'never' } }),
      })
      .catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_CONFIG_INVALID')).toBe(true);
    expect((error as MsupError).issues).toEqual([
      {
        path: 'services.lost.cwd',
        message: `the folder ${path.join(p.root, 'no-such-folder')} does not exist`,
      },
    ]);
    // A service that waits for the step that makes its folder (a build writing dist/) is not refused.
    const built = await p.start({
      config: p.config({
        build: { command: ['sh', '-c', 'mkdir -p made'], restart: 'never' },
        served: { command: node('worker.js'), cwd: 'made', dependsOn: { build: 'completed' } },
      }),
    });
    expect(await waitFor(() => built.instances('served')[0]?.state === 'running')).toBe(true);
    await built.stop();
    // A folder removed after the config loaded: the launch names it, not the program it would have run
    // (Node says `spawn .../sh ENOENT` for it).
    p.write('gone/.keep', '');
    const later = await p
      .start({
        config: p.config({
          lost: {
            command: ['sh', '-c', 'rm .keep && cd .. && rmdir gone && exit 1'],
            cwd: 'gone',
            restart: 'on-failure',
          },
        }),
      })
      .catch((e: unknown) => e);
    expect(isMsupError(later, 'MSUP_START_FAILED')).toBe(true);
    expect((later as Error).message).toMatch(/its folder .*gone \(cwd\) does not exist/);
  });

  it('stops a shell chain whose grandchild ignores SIGTERM, leaving nothing and freeing its port', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        stubborn: {
          command: `sh -c '"${process.execPath}" "${fixture('ignore-sigterm.js')}"; echo never reached'`,
          port: 0,
          stopTimeout: '300ms',
        },
      }),
    });
    const port = sup.instances('stubborn')[0]!.port!;
    // sh -c → sh -c → node: the listener is a grandchild or deeper.
    const state = () =>
      JSON.stringify({
        instances: sup.instances('stubborn'),
        stderr: sup.services()[0]?.stderrTail,
        tagged: taggedProcesses(p.tag),
        listeners: execSync(`ss -ltnpH 'sport = :${port}'`, { encoding: 'utf8' }),
      });
    expect(taggedProcesses(p.tag).length, state()).toBeGreaterThanOrEqual(2);
    expect(await portIsClosed(port), state()).toBe(false);
    await sup.stop();
    expect(taggedProcesses(p.tag)).toEqual([]);
    expect(await portIsClosed(port)).toBe(true);
    expect(sup.instances('stubborn')[0]!.state).toBe('stopped');
  });

  it('runs a worker without a port and restarts it on failure only', async () => {
    const p = project();
    const sup = await p.start({
      config: p.config({
        worker: { command: node('worker.js'), env: { WORK_MS: 50 }, restart: 'on-failure' },
        once: { command: ['sh', '-c', 'echo done'], restart: 'on-failure' },
      }),
    });
    const lines: string[] = [];
    sup.on('output', (l) => lines.push(`${l.service}#${l.index} ${l.line}`));
    expect(await waitFor(() => lines.some((l) => l.startsWith('worker#0 worker#0 finished job')))).toBe(true);
    expect(sup.instances('worker')[0]).toMatchObject({ state: 'running', ready: true });
    // A clean exit under on-failure is final.
    expect(await waitFor(() => sup.instances('once')[0]!.state === 'exited')).toBe(true);
    expect(sup.instances('once')[0]!.restarts).toBe(0);
    expect(() => sup.url('worker')).toThrow(/has no port/);
  });

  it('lists every problem of an invalid config with its path and starts nothing', async () => {
    const p = project();
    const error = await p
      .start({
        config: {
          services: {
            web: { command: 'node x.js', instances: -1, port: 99999, restart: 'sometimes' as 'always' },
            api: { command: '', health: { http: '/h', tcp: true }, stopTimeout: 'soon' },
          },
        },
      })
      .catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_CONFIG_INVALID')).toBe(true);
    const issues = (error as MsupError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'services.web.instances: expected a positive integer, got -1',
        'services.web.port: expected a port number from 0 to 65535, got 99999',
        'services.web.restart.policy: expected "always", "on-failure" or "never", got "sometimes"',
        'services.api.command: expected a non-empty string (run by the shell) or a non-empty array of strings (run directly), got ""',
        'services.api.health: expected only one of "http", "tcp" or "exec", got http and tcp',
        "services.api.stopTimeout: expected a duration such as 500, '500ms', '5s' or '2m', got \"soon\"",
      ]),
    );
    expect(issues).toHaveLength(6);
  });

  it('names the port and the service when a front port is in use, and starts nothing', async () => {
    const p = project();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const error = await p
        .start({
          config: p.config({
            ok: { command: node('echo-server.js'), port: 0 },
            web: { command: node('echo-server.js'), instances: 2, port },
          }),
        })
        .catch((e: unknown) => e);
      expect(isMsupError(error, 'MSUP_PORT_IN_USE')).toBe(true);
      expect((error as MsupError).message).toBe(`port ${port} for service "web" is already in use`);
      expect((error as MsupError).port).toBe(port);
      expect(taggedProcesses(p.tag)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('runs two projects side by side, and refuses a second msup in the same project', async () => {
    const a = project();
    const config = a.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } });
    const first = await a.start({ config });
    const second = await a.start({ config, cwd: `${a.root}/other` }).catch((e: unknown) => e);
    // A different folder is a different project: it starts; the same folder is refused.
    expect(second).not.toBeInstanceOf(Error);
    const ports = [...first.instances('web'), ...(second as typeof first).instances('web')].map(
      (i) => i.port,
    );
    expect(new Set(ports).size).toBe(4);
    const third = await a.start({ config }).catch((e: unknown) => e);
    expect(isMsupError(third, 'MSUP_ALREADY_RUNNING')).toBe(true);
    expect((third as Error).message).toContain(`pid ${process.pid}`);
  });
});

describe('processes that leave the instance’s process group', () => {
  it('ends setsid daemons when their instance ends, so restarts do not pile them up', async () => {
    const p = project();
    const sup = p.create({
      wait: false,
      config: p.config({ forks: { command: node('daemonize.js'), restart: { initialDelay: '10ms' } } }),
    });
    const records: LogRecord[] = [];
    sup.on('log', (r) => records.push(r));
    await sup.start();
    expect(await waitFor(() => (sup.instances('forks')[0]?.restarts ?? 0) >= 3, 20_000)).toBe(true);
    // Each exit ended the daemon it had started: at most the current instance's own is alive.
    expect(
      taggedProcesses(p.tag).filter((t) => t.command.startsWith('sleep 600')).length,
    ).toBeLessThanOrEqual(1);
    await sup.stop();
    await expectNoTaggedProcesses(p.tag, 3000);
    const warnings = records.filter((r) => r.msg.startsWith('ended processes the instance left outside'));
    expect(warnings.length).toBeGreaterThanOrEqual(3);
    expect(String(warnings[0]?.processes)).toContain('sleep 600');
  });
});
