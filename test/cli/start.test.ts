// The built `msup` command, spawned as a user would run it.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { request } from '../helpers/http.js';
import { expectNoTaggedProcesses, taggedProcesses } from '../helpers/processes.js';
import { fixture, useProject } from '../helpers/project.js';

const project = useProject();

const echo = JSON.stringify(fixture('echo-server.js'));

function tsConfig(tag: string, extra = ''): string {
  return `import { defineConfig } from 'msup';
export default defineConfig({
  services: {
    web: { command: ['node', ${echo}], instances: 2, port: 0, health: { http: '/health' }, env: { MSUP_TEST_TAG: '${tag}' } },
    worker: { command: ['node', ${JSON.stringify(fixture('worker.js'))}], env: { WORK_MS: 100, MSUP_TEST_TAG: '${tag}' } },
    ${extra}
  },
});
`;
}

describe('msup start', () => {
  it('starts supervisor.config.ts, prints the front URL and prefixed output, and stops on Ctrl-C', async () => {
    const p = project();
    p.write('supervisor.config.ts', tsConfig(p.tag));
    const cli = runCli(p, ['start', '--no-color']);
    await cli.waitForOutput(
      /all services ready:\n\s+web\s+2\/2\s+http:\/\/127\.0\.0\.1:(\d+)\n\s+worker\s+1\/1\s+\(no port\)/,
    );
    const url = /web\s+2\/2\s+(http:\/\/\S+)/.exec(cli.stdout())![1]!;
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) seen.add(JSON.parse((await request(url)).body).instance);
    expect(seen).toEqual(new Set([0, 1]));
    await cli.waitForOutput(/^worker#0 \| worker#0 finished job 1$/m);
    expect(cli.stdout()).toMatch(/^web#0\s+\| web#0 listening on \d+$/m);
    expect(cli.stdout()).toMatch(/web#1 ready/);

    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stdout()).toMatch(/stopping \(Ctrl-C again to force\)/);
    expect(cli.stdout()).toMatch(/msup stopped/);
    expect(taggedProcesses(p.tag)).toEqual([]);
  });

  it('forces the stop on a second Ctrl-C', async () => {
    const p = project();
    const stubborn = `stubborn: { command: ['node', ${JSON.stringify(fixture('ignore-sigterm.js'))}], port: 0, stopTimeout: '60s', env: { MSUP_TEST_TAG: '${p.tag}' } },`;
    p.write('supervisor.config.ts', tsConfig(p.tag, stubborn));
    const cli = runCli(p, ['start']);
    await cli.waitForOutput(/all services ready/);
    cli.child.kill('SIGINT');
    await cli.waitForOutput(/ignoring SIGTERM/);
    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 130, signal: null });
    expect(cli.stdout()).toMatch(/forcing stop/);
    await expectNoTaggedProcesses(p.tag, 3000);
  });

  it('leaves no child behind when msup itself is SIGKILLed', async () => {
    const p = project();
    p.write('supervisor.config.ts', tsConfig(p.tag));
    const cli = runCli(p, ['start']);
    await cli.waitForOutput(/all services ready/);
    expect(taggedProcesses(p.tag).length).toBeGreaterThanOrEqual(3);
    cli.child.kill('SIGKILL');
    await cli.exited;
    // The watchdog ends every process group within about a second; the bound is 2 s.
    await expectNoTaggedProcesses(p.tag, 2000);
  });

  it('reaps what a crashed run left, and says so', async () => {
    const p = project();
    // Only services that stay quiet: a leftover that writes to its closed stdout dies of EPIPE by itself.
    p.writeConfig({
      web: {
        command: ['node', fixture('echo-server.js')],
        instances: 3,
        port: 0,
      },
    });
    const first = runCli(p, ['start']);
    await first.waitForOutput(/all services ready/);
    // Kill msup and its watchdog together, as a crash of the whole machine session would
    // (msup is frozen first, so it cannot start a new watchdog in between).
    const watchdog = taggedProcesses(p.tag).find(
      (t) => t.command.startsWith('/bin/sh -c') && t.command.includes('clean=0'),
    );
    expect(watchdog).toBeDefined();
    first.child.kill('SIGSTOP');
    process.kill(watchdog!.pid, 'SIGKILL');
    first.child.kill('SIGKILL');
    await first.exited;
    const leftovers = taggedProcesses(p.tag).map((t) => t.pid);
    expect(leftovers.length).toBeGreaterThanOrEqual(3);

    const second = runCli(p, ['start', '--json']);
    await second.waitForOutput(/"msg":"all ready"/);
    const reaped = second
      .stdout()
      .split('\n')
      .filter((l) => l.includes('reaped a leftover of a crashed run'));
    expect(reaped).toHaveLength(3);
    const alive = new Set(taggedProcesses(p.tag).map((t) => t.pid));
    expect(leftovers.filter((pid) => alive.has(pid))).toEqual([]);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });

  it('exits 2 listing every config problem with its path, and starts nothing', async () => {
    const p = project();
    p.writeConfig({
      web: { command: 'node x.js', instances: -1, colour: 'red' },
    });
    const cli = runCli(p, ['start']);
    expect((await cli.exited).code).toBe(2);
    expect(cli.stderr()).toContain('services.web.instances: expected a positive integer, got -1');
    expect(cli.stderr()).toContain('services.web: unknown key "colour"');
    expect(cli.stderr()).toContain('[MSUP_CONFIG_INVALID]');
    expect(taggedProcesses(p.tag)).toEqual([]);
  });

  it('exits 3 naming the port and service when a front port is taken', async () => {
    const p = project();
    const first = runCli(p, ['start', '--json']);
    p.writeConfig(
      {
        api: { command: ['node', fixture('echo-server.js')], port: 0 },
      },
      'a.json',
    );
    await first.exited; // no config named supervisor.config.*: exits 2 at once
    expect(first.stderr()).toContain('[MSUP_CONFIG_NOT_FOUND]');
    const holder = runCli(p, ['start', '--json', '-c', 'a.json']);
    await holder.waitForOutput(/"msg":"all ready"/);
    const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(holder.stdout())![1]);
    p.writeConfig(
      {
        web: { command: ['node', fixture('echo-server.js')], port },
      },
      'other/supervisor.config.json',
    );
    const clash = runCli(p, ['start'], { cwd: `${p.root}/other` });
    expect((await clash.exited).code).toBe(3);
    expect(clash.stderr()).toContain(`port ${port} for service "web" is already in use [MSUP_PORT_IN_USE]`);
    holder.child.kill('SIGINT');
    expect((await holder.exited).code).toBe(0);
  });

  it('--runtime container with no engine: names podman and docker, and hands out no dashboard URL', async () => {
    const p = project();
    p.writeConfig({ web: { command: ['node', fixture('echo-server.js')], port: 0 } });
    // No podman and no docker on this PATH (msup's own node is an absolute path).
    const empty = p.write('empty/.keep', '');
    const cli = runCli(p, ['start', '--runtime', 'container'], { env: { PATH: path.dirname(empty) } });
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderr()).toMatch(/^msup: no working container engine: tried podman and docker\.\n/);
    expect(cli.stderr()).toContain('podman: not found on PATH');
    expect(cli.stderr()).toContain('[MSUP_NO_CONTAINER_ENGINE]');
    // The check runs before any listener opens: no dashboard that is gone by the time it is opened.
    expect(cli.stdout()).not.toContain('dashboard:');
    expect(cli.stdout()).not.toContain('admin listener');
  });

  it('prints one JSON object per line with --json, never two instances in one line', async () => {
    const p = project();
    p.writeConfig({
      chatty: { command: ['node', fixture('chatty.js')], instances: 2 },
    });
    const cli = runCli(p, ['start', '--json']);
    await cli.waitForOutput(/"msg":"all ready"/);
    await cli.waitForOutput(/chatty#1 30\b/);
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);
    const records = cli
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lines = records.filter((r) => r.stream === 'stdout');
    expect(lines.length).toBeGreaterThan(40);
    // Each record is one line of one instance. A line comes in two records only when its writer was not
    // scheduled for 100 ms between two pieces (a loaded machine): the partial line is passed on then, by
    // design; joined, an instance's records are its lines, whole and in order.
    for (const r of lines) expect(r.line).toMatch(new RegExp(`^[^#]*(chatty#${r.index} \\d+)?$`));
    for (const i of [0, 1]) {
      const own = lines.filter((r) => r.index === i).map((r) => r.line);
      if (own.length > 0) expect(own.join('')).toMatch(new RegExp(`^(hello world chatty#${i} \\d+)+$`));
    }
    expect(lines.filter((r) => /^hello world chatty#\d \d+$/.test(String(r.line))).length).toBeGreaterThan(
      40,
    );
    expect(records.some((r) => r.msg === 'ready' && r.service === 'chatty')).toBe(true);
  });

  it('counts a one-shot service that exited 0 as done: the summary and --json all ready come', async () => {
    const p = project();
    p.writeConfig({
      web: { command: ['node', fixture('echo-server.js')], port: 0, health: { http: '/health' } },
      migrate: { command: ['sh', '-c', 'echo migrated'], restart: 'on-failure' },
    });
    const cli = runCli(p, ['start', '--no-color']);
    await cli.waitForOutput(
      /all services ready:\n\s+web\s+1\/1\s+http:\/\/\S+\n\s+migrate\s+1\/1 \(completed\)\s+\(no port\)\n/,
    );
    expect(cli.stdout()).toMatch(/1\/1 completed/);
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(0);

    const json = runCli(p, ['start', '--json']);
    await json.waitForOutput(/"msg":"all ready"/);
    json.child.kill('SIGINT');
    expect((await json.exited).code).toBe(0);
  });

  it('prefixes output lines without colour when NO_COLOR is set', async () => {
    const p = project();
    p.writeConfig({
      chatty: { command: ['node', fixture('chatty.js')], instances: 2 },
    });
    const cli = runCli(p, ['start'], { env: { FORCE_COLOR: '' } });
    await cli.waitForOutput(/chatty#1 20\b/);
    cli.child.kill('SIGINT');
    await cli.exited;
    const lines = cli
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('chatty#'));
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) expect(line).toMatch(/^chatty#([01]) \| [^#]*(chatty#\1 \d+)?$/);
    // Never two instances inside one line. (A line may come in two parts when its writer was not
    // scheduled for 100 ms, as on a loaded machine: a partial line is passed on then, by design.)
    for (const i of [0, 1]) {
      const own = lines
        .filter((l) => l.startsWith(`chatty#${i} | `))
        .map((l) => l.slice(`chatty#${i} | `.length));
      // (On a loaded machine one instance may not have printed yet when the other reached line 20.)
      if (own.length > 0) expect(own.join('')).toMatch(new RegExp(`^(hello world chatty#${i} \\d+)+$`));
    }
    expect(cli.stdout()).not.toContain('\u001b[');
  });

  it('answers --help, --version and a bad command', async () => {
    const p = project();
    const help = runCli(p, ['--help']);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout()).toContain('msup start [options]');
    const version = runCli(p, ['--version']);
    expect((await version.exited).code).toBe(0);
    expect(version.stdout().trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = runCli(p, ['launch']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toBe('msup: unknown command "launch" (see msup --help) [MSUP_USAGE]\n');
    // Each command has its own help, and a mistyped option gets msup's own message.
    const startHelp = runCli(p, ['start', '--help']);
    expect((await startHelp.exited).code).toBe(0);
    expect(startHelp.stdout()).toMatch(/^Usage: msup start \[options\]\n/);
    expect(startHelp.stdout()).toContain('--wait [DURATION]');
    expect(startHelp.stdout()).not.toContain('msup scale');
    const typo = runCli(p, ['start', '--jsn']);
    expect((await typo.exited).code).toBe(2);
    expect(typo.stderr()).toBe(
      'msup: unknown option "--jsn" for msup start; did you mean "--json"? (see msup start --help) [MSUP_USAGE]\n',
    );
  });
});
