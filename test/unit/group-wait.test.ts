// Waiting for a process group to end: signal 0 answers for a group that is gone, and a scan of /proc
// for a group whose only members are zombies nobody reaps (an orphan in a container without an init).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupWaiter } from '../../src/runtime/proc.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

const stateOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[0];

/** A perl process that forks a child into a group of its own, prints its pid, and never reaps it. */
function zombieGroup(): Promise<number> {
  const parent = spawn(
    'perl',
    ['-e', '$| = 1; my $pid = fork(); if ($pid == 0) { setpgrp(0, 0); exit 0 } print "$pid\\n"; sleep 60'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  started.push(parent);
  return new Promise((resolve) =>
    parent.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
}

describe.runIf(process.platform === 'linux')('GroupWaiter', () => {
  it('sees a group of zombies only as ended', async () => {
    const pgid = await zombieGroup();
    const waiter = new GroupWaiter(10);
    for (let i = 0; i < 200 && stateOf(pgid) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stateOf(pgid)).toBe('Z');
    // The kernel still counts the zombie in its group: only the scan of /proc can tell.
    expect(() => process.kill(-pgid, 0)).not.toThrow();
    expect(await waiter.wait(pgid, 5000)).toBe(true);
  });

  it('sees a group end once its process is gone, and waits while it lives', async () => {
    const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    started.push(child);
    const pgid = child.pid as number;
    const waiter = new GroupWaiter(10);
    expect(await waiter.wait(pgid, 300)).toBe(false);
    const ended = waiter.wait(pgid, 5000);
    child.kill('SIGKILL');
    expect(await ended).toBe(true);
  });

  it('does not take a scan cut short by a lack of descriptors for every group ended', async () => {
    // A process with few descriptors, all taken: signal 0 still says the group lives, and the scan of /proc
    // (every fourth poll) cannot read it. Taken as a whole scan, it made every group look ended.
    const proc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/runtime/proc.js');
    const script = `
      const { spawn } = require('node:child_process');
      const fs = require('node:fs');
      import(${JSON.stringify(proc)}).then(async ({ GroupWaiter }) => {
        const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
        process.on('exit', () => { try { process.kill(child.pid, 'SIGKILL'); } catch {} });
        const held = [];
        try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (error) { if (error.code !== 'EMFILE') throw error; }
        const ended = await new GroupWaiter(10).wait(child.pid, 500);
        for (const fd of held) fs.closeSync(fd);
        child.kill('SIGKILL');
        process.stdout.write(JSON.stringify({ ended, held: held.length }));
      });`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile('prlimit', ['--nofile=64:64', process.execPath, '-e', script], (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    const result = JSON.parse(out) as { ended: boolean; held: number };
    expect(result.held).toBeGreaterThan(0);
    expect(result.ended).toBe(false);
  });
});
