// When msup dies, its containers go too: within 5 s through the watchdog, or at the next start, by label
// (and podman's API service msup started, if it outlived msup, is ended then too).
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { podmanMissing, projectContainers, removeProjectImages } from '../helpers/engines.js';
import { taggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();
const missing = podmanMissing();

describe.skipIf(missing !== undefined)('containers after a crash of msup', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) removeProjectImages(root);
  });
  const containerProject = () => {
    const p = project();
    roots.push(p.root);
    copyFileSync(fixture('behave.js'), path.join(p.root, 'behave.js'));
    p.write(
      'supervisor.config.json',
      JSON.stringify({
        runtime: 'container',
        services: {
          web: {
            command: ['node', 'behave.js'],
            instances: 2,
            port: 0,
            env: { MSUP_TEST_TAG: p.tag, BEHAVE: 'ignore-term' },
          },
        },
      }),
    );
    return p;
  };

  it('removes every container within 5 s when msup is SIGKILLed', { timeout: 120_000 }, async () => {
    const p = containerProject();
    const cli = runCli(p, ['start']);
    await cli.waitForOutput(/all services ready/, 90_000);
    expect(projectContainers(p.root)).toHaveLength(2);
    cli.child.kill('SIGKILL');
    await cli.exited;
    const began = Date.now();
    expect(await waitFor(() => projectContainers(p.root).length === 0, 5000, 100)).toBe(true);
    expect(Date.now() - began).toBeLessThan(5000);
  });

  it('reaps the containers a crashed run left at the next start, and says so', {
    timeout: 180_000,
  }, async () => {
    const p = containerProject();
    const first = runCli(p, ['start']);
    await first.waitForOutput(/all services ready/, 90_000);
    // msup and its watchdog die together (msup frozen first, so it cannot start another watchdog).
    const watchdog = taggedProcesses(p.tag).find(
      (t) => t.command.startsWith('/bin/sh -c') && t.command.includes('clean=0'),
    );
    expect(watchdog).toBeDefined();
    first.child.kill('SIGSTOP');
    process.kill(watchdog!.pid, 'SIGKILL');
    first.child.kill('SIGKILL');
    await first.exited;
    const left = projectContainers(p.root);
    expect(left).toHaveLength(2);
    // podman's API service of the crashed run, if it outlived msup (it often ends with it).
    const service = (t: { command: string }) => t.command.includes('podman system service');
    const leftServices = taggedProcesses(p.tag)
      .filter(service)
      .map((t) => t.pid);

    const second = runCli(p, ['start', '--json']);
    await second.waitForOutput(/"msg":"all ready"/, 90_000);
    const reaped = second
      .stdout()
      .split('\n')
      .filter((l) => l.includes('reaped a leftover of a crashed run'));
    expect(reaped.filter((l) => /container msup-/.test(l))).toHaveLength(2);
    // Anything else reaped is the API service, said so; none of the crashed run's services is left.
    expect(reaped.filter((l) => !/container msup-/.test(l)).every((l) => /podman API service/.test(l))).toBe(
      true,
    );
    expect(
      taggedProcesses(p.tag)
        .filter(service)
        .filter((t) => leftServices.includes(t.pid)),
    ).toEqual([]);
    const now = projectContainers(p.root);
    expect(now.filter((name) => left.includes(name))).toEqual([]);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(projectContainers(p.root)).toEqual([]);
  });
});
