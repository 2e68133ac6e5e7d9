// Starts under pressure: a thousand instances under a modest descriptor limit (reading /proc and writing
// the state file must never run msup out of descriptors), and two starts racing for one project.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { expectNoTaggedProcesses, taggedProcesses, waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

describe('many instances', () => {
  it('starts and stops 1,000 instances under a 4096-descriptor limit', { timeout: 180_000 }, async () => {
    const p = project();
    p.writeConfig({ many: { command: ['sleep', '600'], instances: 1000, restart: 'never' } });
    let out = '';
    const child = spawn('prlimit', ['--nofile=4096:4096', process.execPath, BIN, 'start', '--json'], {
      cwd: p.root,
      env: p.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    p.onCleanup(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    expect(await waitFor(() => out.includes('"msg":"all ready"'), 120_000, 100)).toBe(true);
    expect(taggedProcesses(p.tag).filter((t) => t.command.startsWith('sleep'))).toHaveLength(1000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.split('\n').filter((line) => /EMFILE|ENFILE|Unhandled|TypeError/.test(line))).toEqual([]);
    expect(existsSync(path.join(p.root, '.msup', 'state.json'))).toBe(false);
    await expectNoTaggedProcesses(p.tag, 10_000);
  });
});

describe('two starts at once', () => {
  it('one wins, the other exits 3 and leaves the winner its state file', { timeout: 120_000 }, async () => {
    const p = project();
    p.writeConfig({ web: { command: ['sleep', '600'] } });
    for (let round = 0; round < 6; round++) {
      const runs = [0, 1].map(() => {
        let out = '';
        const child = spawn(process.execPath, [BIN, 'start'], {
          cwd: p.root,
          env: p.env(),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        p.onCleanup(async () => {
          child.kill('SIGKILL');
          await exited;
        });
        return { child, exited, out: () => out };
      });
      const loser = await Promise.race(runs.map((r) => r.exited.then(() => r)));
      const winner = runs.find((r) => r !== loser)!;
      expect(await loser.exited).toBe(3);
      expect(loser.out()).toContain('MSUP_ALREADY_RUNNING');
      const file = path.join(p.root, '.msup', 'state.json');
      expect(await waitFor(() => winner.out().includes('all services ready'), 20_000)).toBe(true);
      expect(existsSync(file)).toBe(true);
      expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(winner.child.pid);
      winner.child.kill('SIGTERM');
      expect(await winner.exited).toBe(0);
      await expectNoTaggedProcesses(p.tag, 5000);
      rmSync(path.join(p.root, '.msup'), { recursive: true, force: true });
    }
  });
});
