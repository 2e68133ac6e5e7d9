// `msup start` with sidecars, as a user runs it: status --json shows the golden metrics, the sidecars'
// output reaches the logs tagged, and no sidecar outlives its instance or msup.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { expectNoTaggedProcesses, taggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

/** web and api (echo servers); on sidecars by the config, or (`asProcesses`) only with --runtime sidecar. */
function writeSidecarConfig(p: ReturnType<typeof project>, asProcesses = false): void {
  const echo = { command: ['node', fixture('echo-server.js')], port: 0, health: { http: '/health' } };
  const { services } = p.config({ web: echo, api: { ...echo, instances: 2 } });
  const runtime = asProcesses ? 'process' : 'sidecar';
  p.write('supervisor.config.json', JSON.stringify({ runtime, services }, null, 2));
}

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('msup start with sidecars', () => {
  it('--runtime sidecar: golden metrics in status --json, sidecar output tagged in the logs', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    writeSidecarConfig(p, true);
    const cli = runCli(p, ['start', '--no-color', '--runtime', 'sidecar']);
    await cli.waitForOutput(/all services ready/);
    const url = /web\s+1\/1\s+(http:\/\/\S+)/.exec(cli.stdout())![1]!;
    for (let i = 0; i < 5; i++) expect((await request(`${url}/call/api/hello`)).status).toBe(200);
    // Sidecar lines are marked in the terminal and kept with their source in the log file.
    expect(cli.stdout()).toMatch(/^web#0 \| \[sidecar\] ingress 127\.0\.0\.1:\d+ and mesh/m);
    const logged = readFileSync(path.join(p.root, '.msup', 'logs', 'web.log'), 'utf8');
    expect(logged).toMatch(/"source":"sidecar"/);
    const outboundCount = async () => {
      const status = JSON.parse((await finish(runCli(p, ['status', '--json']))).out);
      const web = status.services.find((s: { name: string }) => s.name === 'web').instances[0];
      return web.details?.metrics?.outbound?.api?.['/hello']?.requests ?? 0;
    };
    expect(await waitFor(async () => (await outboundCount()) === 5, 15_000, 300)).toBe(true);
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 3000);
  });

  it('restarts app and sidecar together when the sidecar dies, and leaves nothing when msup is SIGKILLed', {
    timeout: 60_000,
  }, async () => {
    const p = project();
    writeSidecarConfig(p);
    const cli = runCli(p, ['start', '--no-color', '--json']);
    await cli.waitForOutput(/"msg":"all ready"/);
    const status = async () => JSON.parse((await finish(runCli(p, ['status', '--json']))).out);
    const web = (await status()).services.find((s: { name: string }) => s.name === 'web').instances[0];
    const sidecarPid: number = web.details.sidecar.pid;
    const appPid: number = web.pid;
    expect(taggedProcesses(p.tag).map((t) => t.pid)).toEqual(expect.arrayContaining([sidecarPid, appPid]));
    process.kill(sidecarPid, 'SIGKILL');
    // The instance ends with its sidecar: the app goes too, and both come back as a new pair.
    await cli.waitForOutput(/its sidecar was killed by SIGKILL/);
    expect(await waitFor(() => !taggedProcesses(p.tag).some((t) => t.pid === appPid), 10_000)).toBe(true);
    expect(
      await waitFor(
        async () => {
          const again = (await status()).services.find((s: { name: string }) => s.name === 'web')
            .instances[0];
          return again.ready && again.pid !== appPid && again.details.sidecar.pid !== sidecarPid;
        },
        20_000,
        200,
      ),
    ).toBe(true);
    // Two processes per instance (app and sidecar), three instances.
    expect(taggedProcesses(p.tag).length).toBeGreaterThanOrEqual(6);
    cli.child.kill('SIGKILL');
    await cli.exited;
    await expectNoTaggedProcesses(p.tag, 5000);
  });
});
