// A foreground msup started through `npx msup start` or `npm run <script>` stops when a script kills that
// npx or npm (and only it): msup sees its parent go, and stops as on SIGTERM. `--detach` outlives it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../src/runtime/proc.js';
import { BIN, runCli } from '../helpers/cli.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { fixture, type Project, REPO, useProject } from '../helpers/project.js';
import { statePid } from '../helpers/terminal.js';

const project = useProject();

/** A project that has msup installed the way `npm install` would: node_modules/.bin/msup. */
function installedProject(p: Project): void {
  p.write('package.json', JSON.stringify({ name: 'app', private: true, scripts: { up: 'msup start' } }));
  mkdirSync(path.join(p.root, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(BIN, path.join(p.root, 'node_modules', '.bin', 'msup'));
  symlinkSync(REPO, path.join(p.root, 'node_modules', 'msup'));
  p.writeConfig({
    web: { command: ['node', fixture('echo-server.js')], instances: 2, port: 0 },
    worker: { command: ['node', fixture('worker.js')] },
  });
}

/** Runs `command args` in the project (an npx or npm that starts msup), and stops all of it after the test. */
function runStarter(p: Project, command: string, args: string[], env: Record<string, string> = {}) {
  const child: ChildProcess = spawn(command, args, {
    cwd: p.root,
    env: p.env({
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  p.onCleanup(async () => {
    const pid = statePid(p);
    if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGTERM');
    child.kill('SIGKILL');
    await exited;
    await waitFor(() => pid === undefined || !isAlive(pid), 15_000);
  });
  return { child, output: () => out, exited };
}

/** A process's parent, from /proc/<pid>/stat (the fields after the command name's last ')'). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('a foreground msup whose starter is killed', () => {
  // SIGTERM: npm passes it to the shell it runs msup with, which dies of it and leaves msup to init.
  // SIGKILL: the shell lives on, adopted by init, as msup's parent: msup watches the shell's parent too.
  it.each([
    { name: 'npx msup start', command: 'npx', args: ['msup', 'start'], signal: 'SIGTERM' as const },
    { name: 'npm run up', command: 'npm', args: ['run', 'up'], signal: 'SIGTERM' as const },
    { name: 'npx msup start', command: 'npx', args: ['msup', 'start'], signal: 'SIGKILL' as const },
  ])(
    '$name, $signal to npm only: msup stops and leaves nothing',
    async ({ command, args, signal }) => {
      const p = project();
      installedProject(p);
      const starter = runStarter(p, command, [...args]);
      expect(await waitFor(() => /all services ready/.test(starter.output()), 30_000)).toBe(true);
      const msup = statePid(p);
      expect(msup).toBeDefined();
      expect(msup).not.toBe(starter.child.pid); // npm runs msup through a shell: only npm gets the signal
      starter.child.kill(signal);
      await starter.exited;
      expect(await waitFor(() => !isAlive(msup!), 20_000)).toBe(true);
      const log = readFileSync(path.join(p.root, '.msup', 'logs', 'msup.log'), 'utf8');
      expect(log).toMatch(/"msg":"stopped"/);
      await expectNoTaggedProcesses(p.tag);
    },
    60_000,
  );

  // The same with the chain checked step by step: a `node -e` stands in for npm (npm_command set, as npm
  // sets it) and runs msup through `sh -c`; msup's parent is that shell, whose parent is the `node -e`.
  it('SIGKILL to the npm that ran msup through sh -c: msup stops and leaves nothing', async () => {
    const p = project();
    installedProject(p);
    const script = `require('node:child_process').spawn('sh', ['-c', process.argv[1]], { stdio: 'inherit' })`;
    const command = `"${process.execPath}" "${BIN}" start --no-admin`;
    const starter = runStarter(p, process.execPath, ['-e', script, command], { npm_command: 'exec' });
    let shell: number | undefined;
    p.onCleanup(async () => {
      // The shell ends with msup; should msup not have stopped, the shell is not left behind either.
      if (shell !== undefined && isAlive(shell)) process.kill(shell, 'SIGKILL');
    });
    expect(await waitFor(() => /all services ready/.test(starter.output()), 30_000)).toBe(true);
    const msup = statePid(p)!;
    shell = parentOf(msup);
    expect(readFileSync(`/proc/${shell}/comm`, 'utf8').trim()).toBe('sh');
    expect(parentOf(shell)).toBe(starter.child.pid);
    starter.child.kill('SIGKILL');
    await starter.exited;
    expect(await waitFor(() => !isAlive(msup), 20_000)).toBe(true);
    const log = readFileSync(path.join(p.root, '.msup', 'logs', 'msup.log'), 'utf8');
    expect(log).toMatch(/"msg":"stopped"/);
    expect(starter.output()).toMatch(/stopping: the process that started msup is gone/);
    await expectNoTaggedProcesses(p.tag);
  }, 60_000);

  it('msup start --detach outlives the process that ran it', async () => {
    const p = project();
    installedProject(p);
    const detach = runCli(p, ['start', '--detach']);
    expect((await detach.exited).code).toBe(0);
    const msup = statePid(p)!;
    // The detaching command is gone: the background msup must not take that for a lost parent.
    await new Promise((r) => setTimeout(r, 1500));
    expect(isAlive(msup)).toBe(true);
    const status = runCli(p, ['status']);
    expect((await status.exited).code).toBe(0);
    const stop = runCli(p, ['stop']);
    expect((await stop.exited).code).toBe(0);
  });
});
