// Driving a running msup from a second terminal: status, restart, scale, logs, stop, --detach.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

const web = {
  command: ['node', fixture('echo-server.js')],
  instances: 2,
  port: 0,
  health: { http: '/health' },
};

async function finish(run: ReturnType<typeof runCli>) {
  const exit = await run.exited;
  return { code: exit.code, out: run.stdout(), err: run.stderr() };
}

describe('msup commands against a running msup', () => {
  it('status, scale, restart, logs -f and stop, each project seeing only its own msup', async () => {
    const p = project();
    p.writeConfig({ web, worker: { command: ['node', fixture('worker.js')], env: { WORK_MS: 100 } } });
    p.writeConfig({ other: web }, 'b/supervisor.config.json');
    const a = runCli(p, ['start', '--json']);
    const b = runCli(p, ['start', '--json'], { cwd: path.join(p.root, 'b') });
    await a.waitForOutput(/"msg":"all ready"/);
    await b.waitForOutput(/"msg":"all ready"/);
    expect(existsSync(path.join(p.root, '.msup', 'control.sock'))).toBe(true);

    const status = await finish(runCli(p, ['status', '--json']));
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.out);
    expect(parsed).toMatchObject({ version: 1, project: p.root, ready: true });
    expect(parsed.services.map((s: { name: string }) => s.name)).toEqual(['web', 'worker']);
    const other = JSON.parse(
      (await finish(runCli(p, ['status', '--json'], { cwd: path.join(p.root, 'b') }))).out,
    );
    expect(other.services.map((s: { name: string }) => s.name)).toEqual(['other']);

    const table = await finish(runCli(p, ['status']));
    expect(table.out).toMatch(
      /^SERVICE\s+#\s+PID\s+PORT\s+STATE\s+READY\s+RESTARTS\s+UPTIME\s+CPU\s+MEM\s+LAST EXIT$/m,
    );
    expect(table.out).toMatch(/^web\s+1\s+\d+\s+\d+\s+running\s+yes\s+0\s+/m);
    expect(table.out).toContain('all instances ready');

    const url = parsed.services[0].url as string;
    const follow = runCli(p, ['logs', 'worker', '-f', '--json']);
    await follow.waitForOutput(/"service":"worker".*finished job/);
    expect(follow.stdout()).not.toContain('"service":"web"');
    // Without a service, -f follows msup's own events as well as every service's output.
    const everything = runCli(p, ['logs', '-f', '--json', '-n', '0']);
    await everything.waitForOutput(/"kind":"output","time":"[^"]+","service":"worker"/);

    const load = startLoad(url, { clients: 2 });
    expect((await finish(runCli(p, ['scale', 'web=3']))).out).toBe('web: 3 instance(s)\n');
    await everything.waitForOutput(
      /"kind":"event","time":"[^"]+","service":"msup","level":"info","msg":"scaling"/,
    );
    expect(follow.stdout()).not.toContain('"kind":"event"');
    const restart = await finish(runCli(p, ['restart', 'web', '--json']));
    expect(JSON.parse(restart.out)).toEqual({
      version: 1,
      restarted: [{ service: 'web', restarted: [0, 1, 2], failed: null }],
    });
    expect((await finish(runCli(p, ['scale', 'web=1']))).code).toBe(0);
    const totals = await load.stop();
    expect(totals.failed).toEqual([]);
    const after = JSON.parse((await finish(runCli(p, ['status', '--json']))).out);
    expect(after.services[0].instances).toHaveLength(1);
    expect(after.services[0].instances[0].restarts).toBe(1);

    const bad = await finish(runCli(p, ['scale', 'nope=2']));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('no service "nope"');

    const stop = await finish(runCli(p, ['stop']));
    expect(stop.code).toBe(0);
    expect(stop.out).toContain(`stopped msup for ${p.root}`);
    expect((await a.exited).code).toBe(0);
    expect((await follow.exited).code).toBe(0);
    expect((await everything.exited).code).toBe(0);
    expect(existsSync(path.join(p.root, '.msup', 'control.sock'))).toBe(false);
    // The other project is untouched.
    expect((await request(other.services[0].url)).status).toBe(200);

    // The log files outlive the run: recent output is there with no msup running.
    const recent = await finish(runCli(p, ['logs', 'worker', '-n', '3']));
    expect(recent.code).toBe(0);
    const lines = recent.out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines)
      expect(line).toMatch(/^worker#0 \| worker#0 (finished job \d+|stopping after \d+ jobs)$/);
    const all = (await finish(runCli(p, ['logs', '-n', '10000', '--json']))).out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(all.some((r) => r.kind === 'event' && r.msg === 'stopped')).toBe(true);
    expect(all.some((r) => r.kind === 'output' && r.service === 'web')).toBe(true);
    expect((await finish(runCli(p, ['logs', '-f']))).code).toBe(4);
  });

  it('restart --json prints what was done when a rollout stops, and exits 1 with the error', async () => {
    const p = project();
    const flag = path.join(p.root, 'broken');
    const broken = { ...web, env: { FAIL_IF_EXISTS: flag }, restart: { initialDelay: '20ms' } };
    p.writeConfig({ api: { ...web, instances: 1 }, web: broken });
    const msup = runCli(p, ['start', '--json']);
    await msup.waitForOutput(/"msg":"all ready"/);
    writeFileSync(flag, 'yes');
    const restart = await finish(runCli(p, ['restart', '--json']));
    expect(restart.code).toBe(1);
    expect(restart.err).toMatch(/rolling restart of "web" stopped at web#0: .*\[MSUP_RESTART_FAILED\]/);
    const printed = JSON.parse(restart.out);
    expect(printed).toMatchObject({
      version: 1,
      restarted: [
        { service: 'api', restarted: [0], failed: null },
        { service: 'web', restarted: [], failed: { index: 0 } },
      ],
    });
    expect(printed.restarted[1].failed.reason).toMatch(/exited with code 1/);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    expect((await msup.exited).code).toBe(0);
  });

  it('logs with a mistyped service fails the same way with and without -f, and suggests the name', async () => {
    const p = project();
    p.writeConfig({ web, worker: { command: ['node', fixture('worker.js')] } });
    const expected =
      /^msup: no service "wbe" \(services: .*\bweb\b.*\); did you mean "web"\? \[MSUP_UNKNOWN_SERVICE\]\n$/;
    // No msup running: the names come from the config (and from the log files).
    const offline = await finish(runCli(p, ['logs', 'wbe']));
    expect(offline.code).toBe(1);
    expect(offline.err).toMatch(expected);
    const msup = runCli(p, ['start']);
    await msup.waitForOutput(/all services ready/);
    const recent = await finish(runCli(p, ['logs', 'wbe']));
    const follow = await finish(runCli(p, ['logs', 'wbe', '-f']));
    expect([recent.code, follow.code]).toEqual([1, 1]);
    expect(recent.err).toMatch(expected);
    expect(follow.err).toBe(recent.err);
    expect(recent.out + follow.out).toBe('');
    // restart and scale name it the same way (they gave no suggestion).
    for (const args of [
      ['restart', 'wbe'],
      ['scale', 'wbe=2'],
    ]) {
      const mistyped = await finish(runCli(p, args));
      expect(mistyped.code).toBe(1);
      expect(mistyped.err).toMatch(expected);
    }
    msup.child.kill('SIGTERM');
    expect((await msup.exited).code).toBe(0);
  });

  it('says clearly when no msup is running, with exit code 4', async () => {
    const p = project();
    p.writeConfig({ web });
    for (const command of ['status', 'stop', 'restart']) {
      const run = await finish(runCli(p, [command]));
      expect(run.code).toBe(4);
      expect(run.err).toMatch(/^msup: no msup is running for .* \[MSUP_NOT_RUNNING\]\n$/);
    }
  });

  it('says that the msup of a socket left behind has ended (nothing answers there)', async () => {
    const p = project();
    p.writeConfig({ web });
    const socketPath = path.join(p.root, '.msup', 'control.sock');
    mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    // A process that made the socket and was killed: the file stays, and nothing listens on it.
    const holder = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const gone = new Promise((resolve) => holder.once('close', resolve));
    holder.kill('SIGKILL');
    await gone;
    expect(existsSync(socketPath)).toBe(true);
    const run = await finish(runCli(p, ['status']));
    expect(run.code).toBe(4);
    // It said "no control socket at" a path where there was one.
    expect(run.err).toMatch(
      /^msup: no msup is running for .* \(nothing answers at .*control\.sock: the msup that made it has ended/,
    );
  });

  it('start --detach returns once ready; stop ends it and leaves nothing', async () => {
    const p = project();
    p.writeConfig({ web, worker: { command: ['node', fixture('worker.js')] } });
    const started = await finish(runCli(p, ['start', '--detach', '--wait', '20s']));
    expect(started.code).toBe(0);
    expect(started.out).toMatch(/msup is running in the background \(pid \d+\)/);
    // The foreground's layout: names padded to one column, ready/total, then the URL.
    expect(started.out).toMatch(
      /^ {2}web {5}2\/2 {2}http:\/\/127\.0\.0\.1:\d+\n {2}worker {2}1\/1 {2}\(no port\)\n/m,
    );
    const url = /web\s+2\/2\s+(http:\S+)/.exec(started.out)![1]!;
    expect((await request(url)).status).toBe(200);
    // The background msup's admin listener, with its token, as the foreground one prints it.
    const dashboard = /^ {2}dashboard: (http:\/\/127\.0\.0\.1:\d+\/)#token=[\w-]{43}$/m.exec(
      started.out,
    )?.[1];
    expect((await request(`${dashboard}metrics`)).status).toBe(200);
    expect((await finish(runCli(p, ['status']))).code).toBe(0);
    // The services' output goes to .msup/logs (bounded), not to msup.out (never rotated): msup's events only.
    const out = readFileSync(path.join(p.root, '.msup', 'msup.out'), 'utf8');
    expect(out).toMatch(/all services ready/);
    expect(out).not.toMatch(/listening on/);
    expect((await finish(runCli(p, ['logs', 'web']))).out).toMatch(/listening on/);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 5000);
  });

  it('start --detach shows a one-shot service that exited 0 as completed', async () => {
    const p = project();
    p.writeConfig({ web, migrate: { command: ['sh', '-c', 'echo migrated'], restart: 'on-failure' } });
    const started = await finish(runCli(p, ['start', '--detach', '--wait', '20s']));
    expect(started.code).toBe(0);
    expect(started.out).toMatch(/^ {2}migrate {2}1\/1 \(completed\) {2}\(no port\)\n/m);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 5000);
  });

  it('a second start --detach fails with MSUP_ALREADY_RUNNING and leaves the running msup alone', async () => {
    const p = project();
    p.writeConfig({ web });
    // A bare --wait (as in docker compose up --wait) means the default 60s.
    const first = await finish(runCli(p, ['start', '--detach', '--wait']));
    expect(first.code).toBe(0);
    const pid = /\(pid (\d+)\)/.exec(first.out)![1]!;
    const outFile = path.join(p.root, '.msup', 'msup.out');
    const before = readFileSync(outFile);
    expect(before.length).toBeGreaterThan(0);

    const second = await finish(runCli(p, ['start', '--detach', '--wait', '20s']));
    expect(second.code).toBe(3);
    expect(second.out).toBe('');
    expect(second.err).toMatch(new RegExp(`pid ${pid}\\b.*\\[MSUP_ALREADY_RUNNING\\]`));
    // The running msup's output file is untouched (it was truncated, then filled with NUL bytes).
    expect(readFileSync(outFile).subarray(0, before.length)).toEqual(before);
    expect(readFileSync(outFile).includes(0)).toBe(false);

    // Against a foreground msup too.
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    const foreground = runCli(p, ['start']);
    await foreground.waitForOutput(/all services ready/);
    const third = await finish(runCli(p, ['start', '--detach']));
    expect(third.code).toBe(3);
    expect(third.err).toContain('[MSUP_ALREADY_RUNNING]');
    foreground.child.kill('SIGTERM');
    expect((await foreground.exited).code).toBe(0);
  });

  it('two start --detach at once: one runs, the other fails and leaves its msup.out alone', async () => {
    const p = project();
    p.writeConfig({ web });
    // Both pass the "already running?" check before either background msup listens.
    const [a, b] = await Promise.all([
      finish(runCli(p, ['start', '--detach', '--wait', '20s'])),
      finish(runCli(p, ['start', '--detach', '--wait', '20s'])),
    ]);
    expect([a.code, b.code].sort()).toEqual([0, 3]);
    const [winner, loser] = a.code === 0 ? [a, b] : [b, a];
    expect(winner.out).toMatch(/msup is running in the background/);
    // The loser prints its own error only (it printed the winner's lines as its error).
    expect(loser.err).toMatch(/^msup: .*\[MSUP_ALREADY_RUNNING\]\n$/);
    // The winner's output file is whole: its first line first, and nothing of the loser's.
    const out = readFileSync(path.join(p.root, '.msup', 'msup.out'), 'utf8');
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: msup /);
    expect(out).toMatch(/all services ready/);
    expect(out).not.toContain('MSUP_ALREADY_RUNNING');
    expect(out.includes('\0')).toBe(false);
    expect(readdirSync(path.join(p.root, '.msup')).filter((f) => f.startsWith('msup.out'))).toEqual([
      'msup.out',
    ]);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 5000);
  });

  it('start --detach killed while it waits: the background msup names its own output msup.out once ready', async () => {
    const p = project();
    p.writeConfig({
      slow: { command: ['node', fixture('slow-start.js')], port: 0, env: { START_DELAY_MS: '1500' } },
    });
    const run = runCli(p, ['start', '--detach', '--wait', '30s']);
    const dir = path.join(p.root, '.msup');
    const own = () => (existsSync(dir) ? readdirSync(dir).filter((f) => /^msup\.out\.\d+$/.test(f)) : []);
    // The file is made before the background msup is spawned: wait until that msup writes to it (a kill
    // before the spawn leaves no msup to name it).
    const written = () => own().length === 1 && statSync(path.join(dir, own()[0] as string)).size > 0;
    expect(await waitFor(written, 20_000)).toBe(true);
    // Ctrl-C, a closed terminal: the command goes, the background msup (in a session of its own) carries on.
    run.child.kill('SIGKILL');
    await run.exited;
    // Its output stayed in msup.out.<pid> for good: no one was left to name it.
    const named = await waitFor(() => own().length === 0 && existsSync(path.join(dir, 'msup.out')), 30_000);
    const files = readdirSync(dir).map(
      (f) => `${f}: ${f.startsWith('msup.out') ? readFileSync(path.join(dir, f), 'utf8').slice(-400) : ''}`,
    );
    expect(named, files.join('\n')).toBe(true);
    // Named once start() has resolved; its summary is written through msup's output, which may reach the
    // file a moment later (seen once in a full run on a loaded machine).
    const out = () => readFileSync(path.join(dir, 'msup.out'), 'utf8');
    expect(await waitFor(() => /all services ready/.test(out()), 10_000), out()).toBe(true);
    expect((await finish(runCli(p, ['status']))).code).toBe(0);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 5000);
  });

  it('a start removes the msup.out.<pid> of a detached start that is gone, and keeps a live one’s', async () => {
    const p = project();
    p.writeConfig({ web });
    const dir = path.join(p.root, '.msup');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The pid of a process that has ended: a start --detach killed before it spawned its msup left an
    // empty file, one whose msup then failed its output.
    const gone = async () => {
      const child = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => child.once('exit', resolve));
      return child.pid as number;
    };
    const empty = `msup.out.${await gone()}`;
    const failed = `msup.out.${await gone()}`;
    writeFileSync(path.join(dir, empty), '');
    writeFileSync(path.join(dir, failed), 'msup: could not start\n');
    // A start --detach still waiting for its msup (this test's own pid, alive): its file is its own.
    const waiting = `msup.out.${process.pid}`;
    writeFileSync(path.join(dir, waiting), '');
    const outputs = () =>
      readdirSync(dir)
        .filter((f) => f.startsWith('msup.out'))
        .sort();
    expect((await finish(runCli(p, ['start', '--detach', '--wait', '20s']))).code).toBe(0);
    // Before, both stayed for good.
    expect(outputs()).toEqual(['msup.out', waiting]);
    expect((await finish(runCli(p, ['stop']))).code).toBe(0);
    // A start in the foreground removes them too.
    writeFileSync(path.join(dir, empty), '');
    const foreground = runCli(p, ['start']);
    await foreground.waitForOutput(/all services ready/);
    await waitFor(() => outputs().length === 2);
    expect(outputs()).toEqual(['msup.out', waiting]);
    foreground.child.kill('SIGTERM');
    expect((await foreground.exited).code).toBe(0);
    await expectNoTaggedProcesses(p.tag, 5000);
  });

  it('start --detach fails naming the service that cannot start, and leaves nothing', async () => {
    const p = project();
    p.writeConfig({
      web,
      broken: {
        command: ['node', fixture('crash-on-start.js')],
        restart: { initialDelay: '10ms', crashLoopAfter: 3 },
        // Without a probe, an instance up for 500 ms counts as started: on a loaded machine node can take
        // that long to boot and crash, and the start would count as ready. A probe it never passes keeps
        // this test about the crash loop.
        readiness: { exec: ['node', '-e', 'process.exit(1)'] },
      },
    });
    const started = await finish(runCli(p, ['start', '--detach', '--wait', '20s']));
    expect(started.code).toBe(1);
    expect(started.err).toContain('service "broken" could not start: broken#0 exited with code 3');
    expect(started.err).toContain('DATABASE_URL is not set');
    await expectNoTaggedProcesses(p.tag, 5000);
    expect((await finish(runCli(p, ['status']))).code).toBe(4);
  });
});
