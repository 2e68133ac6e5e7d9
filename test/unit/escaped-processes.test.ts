// Daemons that left their instance's process group are found by their guard token, and queries made at
// the same time (a thousand instances stopping) share one read of /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { escapedProcesses, GUARD_VARIABLE } from '../../src/runtime/proc.js';
import { waitFor } from '../helpers/processes.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

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
});
