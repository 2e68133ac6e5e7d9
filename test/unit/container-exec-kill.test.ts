// Which processes of a container an exec probe that timed out leaves behind (exec-kill.ts): the exec'd
// command (its parent outside the container's pid namespace, started since the exec began) and what it
// started, never the container's init, its app, or another exec's command. On sample /proc text.
import { describe, expect, it } from 'vitest';
import {
  execTargets,
  innermostPid,
  type NsProcess,
  uptimeTicks,
} from '../../src/runtime/container/exec-kill.js';

const proc = (pid: number, ppid: number, startTicks: number, argv: string[]): NsProcess => ({
  pid,
  ppid,
  pgrp: pid,
  startTicks,
  argv,
  nsPid: pid - 1000,
});

const PROBE = ['/bin/sh', '-c', 'sleep 60'];
// 900: conmon of the container (outside); 950, 960: conmons of two exec sessions (outside).
const init = proc(1001, 900, 100, ['/run/podman-init', '--', 'node', 'app.js']);
const app = proc(1002, 1001, 110, ['node', 'app.js']);
const appChild = proc(1003, 1002, 120, ['node', 'worker.js']);

describe('the processes an exec probe that timed out leaves in its container', () => {
  it('are the command the exec started and what it started, not the init, the app nor an older exec', () => {
    const older = proc(1010, 950, 400, PROBE);
    const probe = proc(1020, 960, 500, PROBE);
    const sleep = proc(1021, 1020, 505, ['sleep', '60']);
    const pids = execTargets([init, app, appChild, older, probe, sleep], 1001, PROBE, 500).map((p) => p.pid);
    expect(pids.sort()).toEqual([1020, 1021]);
  });

  it("spare another exec's command under way; take the only exec'd one whose argv changed (exec)", () => {
    const other = proc(1030, 950, 600, ['/bin/sh', '-c', 'kill -TERM -1']);
    const probe = proc(1031, 960, 601, PROBE);
    expect(execTargets([init, app, other, probe], 1001, PROBE, 600).map((p) => p.pid)).toEqual([1031]);
    // The shell exec'd its command: its argv is no longer the probe's.
    const execd = proc(1040, 960, 700, ['node', '-e', 'setTimeout(() => {}, 60000)']);
    expect(execTargets([init, app, execd], 1001, PROBE, 700).map((p) => p.pid)).toEqual([1040]);
    // Two exec'd commands, neither with the probe's argv: nothing can be told, nothing is killed.
    expect(execTargets([init, app, other, execd], 1001, PROBE, 600)).toEqual([]);
  });

  it('are none when nothing was exec’d since', () => {
    expect(execTargets([init, app, appChild], 1001, PROBE, 200)).toEqual([]);
    expect(execTargets([], 1001, PROBE, 0)).toEqual([]);
  });
});

describe('reading /proc', () => {
  it('takes the innermost of NSpid, the pid inside the container', () => {
    expect(innermostPid('Name:\tsleep\nTgid:\t4321\nNSpid:\t4321\t7\nPPid:\t4300\n')).toBe(7);
    expect(innermostPid('Name:\tsleep\nNSpid:\t4321\n')).toBe(4321);
    expect(innermostPid('Name:\tsleep\n')).toBeNull();
  });

  it('reads the uptime in clock ticks', () => {
    expect(uptimeTicks('12345.67 23456.78\n')).toBe(1234567);
    expect(uptimeTicks('12.5 1.0')).toBe(1250);
    expect(uptimeTicks('7 1')).toBe(700);
    expect(uptimeTicks('')).toBeNull();
  });
});
