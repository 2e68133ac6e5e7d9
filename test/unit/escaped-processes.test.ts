// Daemons that left their instance's process group are found by their guard token, and queries made at
// the same time (a thousand instances stopping) share one read of /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { escapedProcesses, GUARD_VARIABLE } from '../../src/runtime/proc.js';
import { reapGroups } from '../../src/runtime/process.js';
import { waitFor } from '../helpers/processes.js';

const started: ChildProcess[] = [];
const strays: number[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
  for (const pid of strays.splice(0)) {
    if (pid <= 1) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

/** Alive, and not a zombie waiting for a parent that does not reap it. */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A group whose leader has ended: `sh` starts `sleep` in its own group, says its pid, and exits. */
function leaderlessGroup(env: NodeJS.ProcessEnv): Promise<{ pgid: number; member: number }> {
  return new Promise((resolve, reject) => {
    // The sleep's output goes elsewhere, so that `close` (its stdout read to the end: 'exit' may come
    // before the pid was read) comes when sh ends.
    const sh = spawn('sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
      env,
    });
    let out = '';
    sh.stdout.on('data', (d) => {
      out += d;
    });
    sh.on('error', reject);
    sh.on('close', () => {
      const member = Number(out.trim());
      // Never 0 or 1: process.kill(0) would signal this whole process group (the test runner).
      if (!Number.isInteger(member) || member <= 1) {
        reject(new Error(`sh said ${JSON.stringify(out)}, not a pid`));
        return;
      }
      strays.push(member);
      resolve({ pgid: sh.pid as number, member });
    });
  });
}

const startTicks = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);

/** A process in a session (and group) of its own, carrying `token` as its guard. */
function daemon(token: string): ChildProcess {
  const child = spawn('sleep', ['60'], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, [GUARD_VARIABLE]: token },
  });
  started.push(child);
  return child;
}

describe.runIf(process.platform === 'linux')('escapedProcesses', () => {
  it('answers concurrent queries, each with its own token only, outside the given group', async () => {
    const since = startTicks(process.pid);
    const tokens = Array.from({ length: 20 }, (_, i) => `t${i}-${process.pid}`);
    const daemons = tokens.map((t) => daemon(t));
    expect(await waitFor(() => daemons.every((d) => d.pid !== undefined), 5000)).toBe(true);
    const answers = await Promise.all(tokens.map((t) => escapedProcesses(t, since, process.pid)));
    answers.forEach((found, i) => {
      expect(found.map((f) => f.pid)).toEqual([daemons[i]?.pid]);
      expect(found[0]?.command).toBe('sleep 60');
    });
    // The daemon's own group is the one given: it has not left it, so it is not an escapee.
    const own = daemons[0]?.pid as number;
    expect(await escapedProcesses(tokens[0] as string, since, own)).toEqual([]);
    // Started before `since`: not a descendant of that instance.
    expect(await escapedProcesses(tokens[1] as string, startTicks(daemons[1]?.pid as number) + 1, 0)).toEqual(
      [],
    );
    expect(await escapedProcesses('no-such-token', since, 0)).toEqual([]);
  });

  it("reaps a group whose leader is gone only where its processes carry the run's guard", async () => {
    const foreign = await leaderlessGroup(process.env);
    const ours = await leaderlessGroup({ ...process.env, [GUARD_VARIABLE]: `ours-${process.pid}` });
    // Each instance of a run has a token of its own.
    const entry = (pgid: number, guard: string) => ({
      runtime: 'process',
      service: 'w',
      index: 0,
      data: { pgid, startTime: '1', guard },
    });
    const reaped = await reapGroups([
      entry(foreign.pgid, `other-${process.pid}`),
      entry(ours.pgid, `ours-${process.pid}`),
    ]);
    expect(await waitFor(() => !running(ours.member), 5000)).toBe(true);
    // The group number a crashed run left, now another's (its leader's pid reused, then ended): left alone.
    expect(running(foreign.member)).toBe(true);
    expect(reaped.map((r) => r.what)).toEqual([`1 process of group ${ours.pgid} (its leader gone)`]);
  });
});
