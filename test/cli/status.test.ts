// `msup status` after a service was scaled to 0: the service is shown, with no instance, and the
// project is not called ready (its front answers 503). An instance whose readiness probe fails has the
// probe's failure under its row.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { fixture, REPO, useProject } from '../helpers/project.js';

const project = useProject();

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('msup status', () => {
  it('shows a service scaled to 0, and does not call that ready', async () => {
    const p = project();
    p.writeConfig({
      web: { command: ['node', fixture('echo-server.js')], port: 0, holdTimeout: '100ms' },
      worker: { command: ['node', fixture('worker.js')] },
    });
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready:\n.*web\s+1\/1\s+(http:\S+)/);
    const url = /web\s+1\/1\s+(http:\S+)/.exec(msup.stdout())![1]!;
    expect((await finish(runCli(p, ['scale', 'web=0']))).code).toBe(0);
    expect((await request(url)).status).toBe(503);

    const table = await finish(runCli(p, ['status']));
    expect(table.code).toBe(1);
    expect(table.out).toMatch(/^web\s+-\s+-\s+-\s+scaled to 0\s+no\b/m);
    expect(table.out).toMatch(/^worker\s+0\s+\d+/m);
    expect(table.out).toMatch(/NOT ready: web has no instance \(scaled to 0\)\n$/);

    const json = await finish(runCli(p, ['status', '--json']));
    expect(json.code).toBe(1);
    const status = JSON.parse(json.out) as {
      ready: boolean;
      services: { name: string; instances: unknown[] }[];
    };
    expect(status.ready).toBe(false);
    expect(status.services.map((s) => [s.name, s.instances.length])).toEqual([
      ['web', 0],
      ['worker', 1],
    ]);

    // Scaled up again: ready once its new instance is.
    expect((await finish(runCli(p, ['scale', 'web=1']))).code).toBe(0);
    let last = { code: null as number | null, out: '', err: '' };
    expect(
      await waitFor(async () => {
        last = await finish(runCli(p, ['status']));
        return last.code === 0;
      }, 15_000),
    ).toBe(true);
    expect(last.out).toMatch(/all instances ready\n$/);
    msup.child.kill('SIGTERM');
    expect((await msup.exited).code).toBe(0);
  });
  it("shows a failing readiness probe's detail under its instance's row, as status --json has it", async () => {
    const p = project();
    const down = path.join(p.root, 'down');
    p.writeConfig({
      web: {
        command: ['node', fixture('echo-server.js')],
        port: 0,
        readiness: { exec: `test ! -e '${down}' || { echo "db down"; exit 1; }`, interval: '100ms' },
      },
    });
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready/);
    expect((await finish(runCli(p, ['status']))).out).not.toContain('probe');
    writeFileSync(down, '');
    // Out of rotation once it failed failureThreshold (3) times in a row.
    let last = { code: null as number | null, out: '', err: '' };
    expect(
      await waitFor(async () => {
        last = await finish(runCli(p, ['status']));
        return last.code === 1;
      }, 15_000),
    ).toBe(true);
    expect(last.out).toMatch(
      /^web\s+0\s+\d+.*\n {2}readiness probe failed \S+ ago: exec exited with code 1; last output: "db down"\n/m,
    );
    msup.child.kill('SIGTERM');
    expect((await msup.exited).code).toBe(0);
  });

  // Two commands that each wait 10 s for the stopped msup.
  it("docs/cli.md's StatusV1 shows every field status --json prints, at every level", async () => {
    const p = project();
    p.writeConfig({
      web: { command: ['node', fixture('echo-server.js')], port: 0, health: { http: '/health' } },
    });
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready/);
    const json = await finish(runCli(p, ['status', '--json']));
    expect(json.code).toBe(0);
    const status = JSON.parse(json.out) as Record<string, unknown> & {
      services: (Record<string, unknown> & { instances: Record<string, unknown>[] })[];
    };
    const page = readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8');
    const start = page.indexOf('`msup status --json` prints one `StatusV1` object:');
    const shape = page.slice(start, page.indexOf('```\n', page.indexOf('```', start) + 3));
    const shown = (key: string) => shape.includes(`"${key}":`);
    const service = status.services[0]!;
    const instance = service.instances[0]!;
    for (const object of [status, service, instance, instance.lastProbe as Record<string, unknown>]) {
      expect(Object.keys(object).filter((key) => !shown(key))).toEqual([]);
    }
  });

  it('fails, naming the wait, when msup does not answer (stopped by kill -STOP)', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    p.writeConfig({ worker: { command: ['node', fixture('worker.js')] } });
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready/);
    const pid = msup.child.pid!;
    process.kill(pid, 'SIGSTOP');
    const resume = async () => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    };
    p.onCleanup(resume);
    const status = await finish(runCli(p, ['status']));
    // start -d's check for a running msup: that one is still there, so no second msup over its files.
    const detach = await finish(runCli(p, ['start', '-d']));
    await resume();
    expect(status.code).toBe(1);
    expect(status.err).toContain('msup did not answer within 10s');
    expect(status.err).toContain('[MSUP_CONTROL]');
    expect(detach.code).toBe(1);
    expect(detach.err).toContain('msup did not answer within 10s');
    expect(existsSync(path.join(p.root, '.msup', 'msup.out'))).toBe(false);
  });
});
