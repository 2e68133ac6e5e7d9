// The verdict on the machine stands on other work measured in the idle periods: a real busy loop beside
// the compare shows up as other work, and the same loop counted among the compare's own processes does not.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { backgroundShare, markBackground } from '../../src/compare/background.js';
import { scanProcesses } from '../../src/runtime/proc.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';

const linux = process.platform === 'linux';
const TAG = `background-${process.pid}`;

async function cpuMsOf(pid: number): Promise<number> {
  return (await scanProcesses()).find((s) => s.pid === pid)?.cpuMs ?? 0;
}

describe.runIf(linux)('other work on the machine', () => {
  it('counts a busy process that is not the compare’s as other work, and not once it is its own', {
    timeout: 30_000,
  }, async () => {
    const hog = spawn(process.execPath, ['-e', 'for (;;) {}'], {
      stdio: 'ignore',
      env: { ...process.env, MSUP_TEST_TAG: TAG },
    });
    const pid = hog.pid as number;
    try {
      const cpus = (await import('node:os')).cpus().length;
      const [othersFrom, ownFrom, hogFrom] = await Promise.all([
        markBackground([], [pid]),
        markBackground([]),
        cpuMsOf(pid),
      ]);
      // A condition, not a sleep: the loop has used a second of CPU.
      expect(await waitFor(async () => (await cpuMsOf(pid)) - hogFrom >= 1000, 20_000, 50)).toBe(true);
      const [othersTo, ownTo, hogTo] = await Promise.all([
        markBackground([], [pid]),
        markBackground([]),
        cpuMsOf(pid),
      ]);
      if (!othersFrom || !othersTo || !ownFrom || !ownTo) throw new Error('no /proc/stat');
      const hogShare = (hogTo - hogFrom) / ((othersTo.atMs - othersFrom.atMs) * cpus);
      const others = backgroundShare(othersFrom, othersTo, cpus) as number;
      const own = backgroundShare(ownFrom, ownTo, cpus) as number;
      // The machine counted the loop's CPU; less the compare's own, it is left as other work (and the
      // tests beside this one can only add to it).
      expect(others).toBeGreaterThanOrEqual(0.8 * hogShare);
      // Counted as the compare's own, the loop is taken out again.
      expect(own).toBeLessThanOrEqual(others - 0.8 * hogShare);
    } finally {
      hog.kill('SIGKILL');
      if (hog.exitCode === null && hog.signalCode === null) await once(hog, 'exit');
      await expectNoTaggedProcesses(TAG);
    }
  });
});
