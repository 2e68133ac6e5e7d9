// Races and edges found in review: each once let a process or a timer outlive its owner.
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMsupError, type LogRecord } from '../../src/index.js';
import { taggedProcesses, waitFor } from '../helpers/processes.js';
import { node, useProject } from '../helpers/project.js';

const project = useProject();
const echoes = (tag: string) => taggedProcesses(tag).filter((t) => t.command.includes('echo-server')).length;

describe('edge cases', () => {
  it('a rollout right after start({ wait: false }) never runs two processes for one instance', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({ web: { command: node('echo-server.js'), instances: 2, port: 0 } }),
    });
    await sup.restart('web');
    expect(sup.instances('web').every((i) => i.ready)).toBe(true);
    expect(await waitFor(() => echoes(p.tag) === 2)).toBe(true);
  });

  it('a stop() while start() is under way wins, and leaves nothing open', async () => {
    const p = project();
    const sup = p.create({ config: p.config({ web: { command: node('echo-server.js'), port: 0 } }) });
    const starting = sup.start();
    await sup.stop();
    const error = await starting.catch((e: unknown) => e);
    expect(isMsupError(error, 'MSUP_STOPPED')).toBe(true);
    expect(taggedProcesses(p.tag)).toEqual([]);
    expect(existsSync(path.join(p.root, '.msup', 'control.sock'))).toBe(false);
    expect(existsSync(path.join(p.root, '.msup', 'state.json'))).toBe(false);
  });

  it('stops an exec probe under way with its instance', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({
        web: { command: node('echo-server.js'), port: 0, health: { exec: 'sleep 30', timeout: '20s' } },
      }),
    });
    expect(await waitFor(() => taggedProcesses(p.tag).some((t) => t.command.includes('sleep 30')))).toBe(
      true,
    );
    await sup.stop();
    expect(taggedProcesses(p.tag)).toEqual([]);
  });

  it('restarts an instance that is never ready within startTimeout', async () => {
    const p = project();
    const sup = p.create({
      wait: false,
      config: p.config({
        slow: {
          command: node('slow-start.js'),
          port: 0,
          env: { START_DELAY_MS: 60_000 },
          startTimeout: '400ms',
          stopTimeout: '200ms',
        },
      }),
    });
    const logs: LogRecord[] = [];
    sup.on('log', (r) => logs.push(r));
    await sup.start();
    expect(await waitFor(() => sup.instances('slow')[0]!.restarts >= 1, 10_000)).toBe(true);
    expect(logs.some((r) => r.msg === 'not ready in time: restarting')).toBe(true);
  });

  it('scaling a service that waits for its dependencies changes the count it will start with', async () => {
    const p = project();
    const sup = await p.start({
      wait: false,
      config: p.config({
        web: { command: node('echo-server.js'), port: 0, dependsOn: ['db'] },
        db: { command: node('slow-start.js'), port: 0, env: { START_DELAY_MS: 60_000 } },
      }),
    });
    await sup.scale('web', 3);
    expect(sup.instances('web').map((i) => i.state)).toEqual(['waiting', 'waiting', 'waiting']);
    expect(echoes(p.tag)).toBe(0);
  });

  it('a reload after an added service failed to bind does not crash msup', async () => {
    const p = project();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const write = (api: Record<string, unknown> | null) =>
        p.write(
          'supervisor.config.json',
          JSON.stringify(
            p.config({
              web: { command: node('echo-server.js'), port: 0 },
              ...(api ? { api: { command: node('echo-server.js'), port, ...api } } : {}),
            }),
          ),
        );
      write(null);
      const sup = p.create({ configFile: 'supervisor.config.json', watch: false });
      const logs: LogRecord[] = [];
      sup.on('log', (r) => logs.push(r));
      await sup.start();
      write({});
      expect((await sup.reload()).added).toEqual([]);
      expect(logs.some((r) => r.msg === 'service added to the config could not start')).toBe(true);
      write({ instances: 2 });
      const second = await sup.reload();
      expect(second.applied).toBe(true);
      expect(sup.services().map((s) => s.name)).toEqual(['web']);
    } finally {
      blocker.close();
    }
  });
});
