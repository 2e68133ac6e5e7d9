// `msup start` opens the admin listener by default and prints the dashboard URL (with its token) and
// the status shows it; `--admin HOST:PORT` places it, `--no-admin` leaves it closed.
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

describe('msup start and the dashboard', () => {
  it('prints the dashboard URL, which serves the page and /metrics; status shows it', async () => {
    const p = project();
    p.writeConfig({ web: { command: ['node', fixture('echo-server.js')], port: 0 } });
    const msup = runCli(p, ['start', '--admin', '127.0.0.1:0']);
    await msup.waitForOutput(/all services ready:[\s\S]*dashboard: (http:\S+)/);
    const dashboard = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{43})\n/.exec(msup.stdout())?.[1];
    expect(dashboard).toBeDefined();
    const url = new URL(dashboard as string);
    expect((await request(url.origin)).body).toMatch(/<title>msup dashboard<\/title>/);
    expect((await request(`${url.origin}/metrics`)).body).toMatch(
      /^msup_instance_ready\{service="web",instance="0"\} 1$/m,
    );
    const status = runCli(p, ['status']);
    await status.exited;
    expect(status.stdout()).toContain(`dashboard: ${dashboard}`);
  });

  it('--no-admin opens none', async () => {
    const p = project();
    p.writeConfig({ w: { command: ['node', fixture('worker.js')] } });
    const msup = runCli(p, ['start', '--no-admin']);
    await msup.waitForOutput(/all services ready:\n(.*\n)+/);
    expect(msup.stdout()).not.toMatch(/dashboard|admin listener/);
  });
});
