// `msup start` with sidecars, as a user runs it: status --json shows the golden metrics and the circuit
// breakers (so do status and /metrics), the sidecars' output reaches the logs tagged, and no sidecar
// outlives its instance or msup.
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

  it("shows a sidecar's circuit breaker opening and closing again in status, status --json and /metrics", {
    timeout: 90_000,
  }, async () => {
    const p = project();
    const echo = { command: ['node', fixture('echo-server.js')], port: 0, health: { http: '/health' } };
    // No retries, so each failing call is one failure of api#0; an ejection of 1 s, doubled by each
    // failed trial: the loops below keep it open until it is seen, then let it close.
    const sidecar = {
      retries: 0,
      balancing: 'least-request',
      breaker: { failures: 3, ejection: '1s', maxEjection: '8s' },
    };
    const { services } = p.config({ web: { ...echo, sidecar }, api: { ...echo, instances: 2 } } as never);
    p.write('supervisor.config.json', JSON.stringify({ runtime: 'sidecar', services }, null, 2));
    const cli = runCli(p, ['start', '--no-color', '--admin', '127.0.0.1:0']);
    await cli.waitForOutput(/all services ready:[\s\S]*dashboard: http:\S+/);
    const url = /web\s+1\/1\s+(http:\/\/\S+)/.exec(cli.stdout())![1]!;
    const admin = new URL(/dashboard: (http:\/\/\S+)/.exec(cli.stdout())![1]!).origin;
    interface Member {
      instance: number | null;
      state: string;
      since: string | null;
      until: string | null;
      consecutiveFailures: number;
      ejectionsInRow: number;
    }
    /** The breaker of web#0's sidecar for api, once the sidecar has reported it (undefined before). */
    const breaker = async (): Promise<
      { ejected: number; ejections: number; members: Member[] } | undefined
    > => {
      const status = JSON.parse((await finish(runCli(p, ['status', '--json']))).out);
      return status.services.find((s: { name: string }) => s.name === 'web').instances[0].details.breakers
        ?.api;
    };
    const metrics = async () => (await request(`${admin}/metrics`)).body;
    /** The value of the sample of `name` with these labels (in any order), or null. */
    const sample = (text: string, name: string, labels: Record<string, string>) => {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      for (const line of text.split('\n')) {
        const m = /^([\w:]+)\{(.*)\} (\S+)$/.exec(line);
        const got = m?.[2]?.split(',') ?? [];
        if (m?.[1] === name && got.length === pairs.length && pairs.every((p) => got.includes(p)))
          return Number(m[3]);
      }
      return null;
    };
    const breakerState = (text: string, state: string) =>
      sample(text, 'msup_sidecar_breaker_state', { service: 'web', instance: '0', peer: 'api', state });

    // api#0 fails until status --json and /metrics both show its breaker open.
    let seen: Awaited<ReturnType<typeof breaker>> | undefined;
    expect(
      await waitFor(
        async () => {
          for (let i = 0; i < 3; i++) await request(`${url}/call/api/fail?instance=0`);
          seen = await breaker();
          const open = seen?.members.find((m) => m.instance === 0)?.state === 'open';
          return open && breakerState(await metrics(), 'open') === 1;
        },
        40_000,
        0,
      ),
    ).toBe(true);
    expect(seen!.ejected).toBe(1);
    expect(seen!.ejections).toBeGreaterThanOrEqual(1);
    const zero = seen!.members.find((m) => m.instance === 0)!;
    expect(zero.since).not.toBeNull();
    expect(Date.parse(zero.until!)).toBeGreaterThan(Date.parse(zero.since!));
    expect(zero.ejectionsInRow).toBeGreaterThanOrEqual(1);
    expect(seen!.members.find((m) => m.instance === 1)).toMatchObject({ state: 'closed', since: null });
    const scraped = await metrics();
    expect(scraped).toMatch(/^# HELP msup_sidecar_breaker_state /m);
    expect(scraped).toMatch(/^# TYPE msup_sidecar_breaker_ejections_total counter$/m);
    const ejections = { service: 'web', instance: '0', peer: 'api' };
    expect(sample(scraped, 'msup_sidecar_breaker_ejections_total', ejections)).toBeGreaterThanOrEqual(1);
    const text = (await finish(runCli(p, ['status']))).out;
    expect(text).toMatch(/^circuit breakers:\n {2}web#0 → api: api#0 (open|half-open)/m);

    // api#0 answers again: once its ejection is over, a trial request succeeds and the breaker closes.
    expect(
      await waitFor(
        async () => {
          for (let i = 0; i < 3; i++) await request(`${url}/call/api/hello`);
          const now = await breaker();
          return now?.ejected === 0 && breakerState(await metrics(), 'closed') === 2;
        },
        90_000 - 40_000,
        200,
      ),
    ).toBe(true);
    const after = await metrics();
    expect(breakerState(after, 'open')).toBe(0);
    expect(breakerState(after, 'half-open')).toBe(0);
    // A counter: the ejections are still counted once the breaker closed.
    expect(sample(after, 'msup_sidecar_breaker_ejections_total', ejections)).toBeGreaterThanOrEqual(1);
    expect((await breaker())?.members.every((m) => m.state === 'closed' && m.since === null)).toBe(true);
    expect((await finish(runCli(p, ['status']))).out).not.toMatch(/circuit breakers:/);
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 3000);
  });
});
