// The verdict on the machine stands on other work measured in the idle periods and the warm loads: a real
// busy loop beside the compare shows up as other work, and the same loop counted among the compare's own
// processes does not.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { backgroundShare, markBackground } from '../../src/compare/background.js';
import { compare } from '../../src/compare/compare.js';
import { scanProcesses } from '../../src/runtime/proc.js';
import { expectNoTaggedProcesses, waitFor } from '../helpers/processes.js';
import { useProject } from '../helpers/project.js';

const project = useProject();

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

  it('sees other work during the warm load, where the idle periods cannot', {
    timeout: 120_000,
  }, async () => {
    const p = project();
    p.write(
      'server.mjs',
      `import http from 'node:http';\nhttp.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');\n`,
    );
    // A busy loop that is no child of this process (its shell ends at once): not the compare's own.
    const hogPid = Number(
      execFileSync(
        'sh',
        ['-c', `${JSON.stringify(process.execPath)} -e 'for (;;) {}' >/dev/null 2>&1 & echo $!`],
        {
          env: { ...process.env, MSUP_TEST_TAG: TAG },
          encoding: 'utf8',
        },
      ).trim(),
    );
    try {
      const cpus = (await import('node:os')).cpus().length;
      // The loop's CPU from the warm load's start to the recovery after it (round 1).
      const seen: { atMs: number; cpuMs: number }[] = [];
      const marks: Promise<void>[] = [];
      const result = await compare({
        cwd: p.root,
        config: p.config({ web: { command: [process.execPath, 'server.mjs'], port: 0 } }),
        runtimes: ['process'],
        rounds: 1,
        // A load of two seconds (the time limit): a period under a second is not measured.
        requests: 1_000_000,
        duration: '2s',
        concurrency: 2,
        idle: '0.1s',
        onProgress: (e) => {
          const edge =
            e.round === 1 &&
            ((e.phase === 'load' && e.done === 0) || (e.phase === 'recovery' && seen.length === 1));
          if (edge) {
            const atMs = performance.now();
            marks.push(cpuMsOf(hogPid).then((cpuMs) => void seen.push({ atMs, cpuMs })));
          }
        },
      });
      await Promise.all(marks);
      const [from, to] = seen;
      if (!from || !to) throw new Error('the warm load was not seen');
      const hogShare = (to.cpuMs - from.cpuMs) / ((to.atMs - from.atMs) * cpus);
      expect(hogShare).toBeGreaterThan(0.05);
      // One warm load measured (the round not counted is left out): the loop is in it as other work.
      expect(result.background.load).toMatchObject({ periods: 1, worst: { runtime: 'process', round: 1 } });
      expect(result.background.load?.max).toBeGreaterThanOrEqual(0.5 * hogShare);
      // The idle periods were too short to be measured: the verdict stands on the load alone.
      expect(result.background.periods).toBe(0);
      expect(result.noisy).toBe(
        (result.background.load?.max ?? 0) > (result.background.load?.threshold ?? 1),
      );
    } finally {
      try {
        process.kill(hogPid, 'SIGKILL');
      } catch {}
      await expectNoTaggedProcesses(TAG);
    }
  });
});
