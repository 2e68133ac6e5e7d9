// The verdict on the machine: other work measured from /proc/stat in the idle periods, less the compare's
// own CPU time; and the sentences a result ends with.
import { describe, expect, it } from 'vitest';
import { formatCompare } from '../../src/cli/format-compare.js';
import { backgroundShare, ownCpuMs } from '../../src/compare/background.js';
import { formatUncertainty, verdict } from '../../src/compare/format.js';
import { foldRounds, withRatios } from '../../src/compare/metrics.js';
import { compareReportHtml } from '../../src/compare/report-html.js';
import {
  BACKGROUND_THRESHOLD,
  backgroundLoad,
  isNoisy,
  LOAD_BACKGROUND_THRESHOLD,
  machineNoisy,
  NOISE_THRESHOLD,
  spread,
  uncertainty,
} from '../../src/compare/stats.js';
import type { CompareResultV3 } from '../../src/compare/types.js';
import { parseMachineCpu } from '../../src/runtime/proc.js';
import { runtimeReport } from '../helpers/compare.js';

describe('the machine CPU time of /proc/stat', () => {
  it('counts all but idle and iowait as busy, steal included', () => {
    const text = 'cpu  100 5 30 800 40 2 3 20 7 0\ncpu0 50 2 15 400 20 1 1 10 3 0\nintr 1\n';
    expect(parseMachineCpu(text)).toEqual({ busyTicks: 160, totalTicks: 1000 });
    // An older kernel without steal and guest columns.
    expect(parseMachineCpu('cpu 10 0 10 80\n')).toEqual({ busyTicks: 20, totalTicks: 100 });
    expect(parseMachineCpu('intr 1\n')).toBeNull();
    expect(parseMachineCpu('cpu a b c d\n')).toBeNull();
  });
});

describe('other work on the machine', () => {
  const SELF = 100;
  type Procs = Record<string, [cpuMs: number, ppid: number]>;
  const mark = (busyTicks: number, totalTicks: number, atMs: number, procs: Procs = {}, reaped = 0) => ({
    machine: { busyTicks, totalTicks },
    processes: new Map(Object.entries(procs).map(([k, [cpuMs, ppid]]) => [k, { cpuMs, ppid }])),
    childrenCpuMs: reaped,
    selfPid: SELF,
    atMs,
  });

  it("is the machine's busy share less the compare's own", () => {
    // 2 CPUs for 1 s: 200 ticks. 60 busy (30%), of which the compare's own 100 ms (5%): 25% others'.
    const from = mark(0, 0, 0, { '100:1': [500, 1] });
    expect(backgroundShare(from, mark(60, 200, 1000, { '100:1': [600, 1] }), 2)).toBeCloseTo(0.25, 9);
    // All of it the compare's own: none, and never below 0 (ticks are coarser than milliseconds).
    expect(backgroundShare(from, mark(10, 200, 1000, { '100:1': [620, 1] }), 2)).toBe(0);
    // A period under a second is not measured (10 ms ticks), nor an empty one.
    expect(backgroundShare(mark(0, 0, 0), mark(60, 180, 900), 2)).toBeNull();
    expect(backgroundShare(mark(5, 200, 1000), mark(5, 200, 1000), 2)).toBeNull();
  });

  it("counts each of the compare's processes by what it used in the period", () => {
    const from = mark(0, 0, 0, {
      '100:1': [1000, 1], // msup
      '200:5': [3000, SELF], // an environment of msup's, 3 s of CPU before the period
      '300:7': [2000, 250], // a container's process (its parent is conmon, not msup)
      '400:9': [50, SELF],
    });
    const to = mark(
      0,
      0,
      2000,
      {
        '100:1': [1010, 1], // 10 ms in the period
        '400:9': [70, SELF], // 20 ms
        '500:11': [30, SELF], // started in the period: all of its 30 ms
        // 200:5 ended and msup waited for it: its 3,040 ms moved into msup's reaped time; 40 ms were the period's.
        // 300:7 ended (a container stopped): what it used in the period is not known, its 2 s are not counted.
      },
      3040,
    );
    expect(ownCpuMs(from, to)).toBe(10 + 20 + 30 + 40);
    // A pid used again is another process (its start time differs): 400:9 used 10 ms more and ended
    // (msup waited for it: 60 ms reaped), and the new 400:12 used 5 ms.
    const again = mark(0, 0, 0, { '400:12': [5, SELF] }, 60);
    expect(ownCpuMs(mark(0, 0, 0, { '400:9': [50, SELF] }), again)).toBe(10 + 5);
  });

  it('folds the periods into their mean and the worst, and calls over 10% noisy', () => {
    const period = (runtime: string, round: number, share: number | null) => ({ runtime, round, share });
    expect(
      backgroundLoad([period('process', 1, 0.02), period('container', 1, null), period('sidecar', 2, 0.04)]),
    ).toEqual({
      share: 0.03,
      max: 0.04,
      worst: { runtime: 'sidecar', round: 2 },
      periods: 2,
      threshold: BACKGROUND_THRESHOLD,
    });
    expect(backgroundLoad([period('process', 1, null)])).toEqual({
      share: null,
      max: null,
      worst: null,
      periods: 0,
      threshold: 0.1,
    });
  });

  it('calls a run noisy when the idle mean or the worst warm load is past its threshold', () => {
    const period = (runtime: string, round: number, share: number | null) => ({ runtime, round, share });
    const idle = (share: number) => backgroundLoad([period('process', 1, share)]);
    const loads = (...shares: number[]) =>
      backgroundLoad(
        shares.map((share, i) => period('sidecar', i + 1, share)),
        LOAD_BACKGROUND_THRESHOLD,
      );
    expect(loads(0.03, 0.3)).toMatchObject({
      max: 0.3,
      worst: { runtime: 'sidecar', round: 2 },
      threshold: 0.2,
    });
    expect(machineNoisy({ ...idle(0.02), load: loads(0.03, 0.04) })).toBe(false);
    // Quiet while idle, but another process took 30% of the machine during one warm load.
    expect(machineNoisy({ ...idle(0.02), load: loads(0.03, 0.3) })).toBe(true);
    expect(machineNoisy({ ...idle(0.12), load: loads(0.03) })).toBe(true);
    // A result from before the loads were measured: the idle periods alone.
    expect(machineNoisy(idle(0.02))).toBe(false);
    expect(machineNoisy({ ...idle(0.02), load: backgroundLoad([], LOAD_BACKGROUND_THRESHOLD) })).toBe(false);
  });
});

describe('the verdict of a result', () => {
  const result = (share: number | null, rounds: number, p50: number[][]): CompareResultV3 => {
    const base = foldRounds(
      (p50[0] ?? []).map((v) => ({ p50Ms: v })),
      false,
    );
    const other = withRatios(
      foldRounds(
        (p50[1] ?? []).map((v) => ({ p50Ms: v })),
        false,
      ),
      base,
    );
    const runtime = (name: string, metrics: typeof base) => runtimeReport(name, metrics);
    const background = backgroundLoad(
      share === null
        ? []
        : [
            { runtime: 'process', round: 1, share },
            { runtime: 'sidecar', round: 1, share },
          ],
    );
    return {
      version: 3,
      startedAt: '',
      finishedAt: '',
      machine: {
        cpus: 2,
        cpuModel: 'x',
        memoryBytes: 1,
        node: 'v20',
        platform: 'linux',
        release: '',
        loadAverage: [],
      },
      settings: { requests: 1, concurrency: 1, durationMs: 1, rounds, idleMs: 1, target: null },
      latencyBucketsMs: [],
      baseline: 'process',
      errorShareThreshold: 0.05,
      runtimes: [runtime('process', base), runtime('sidecar', other)],
      published: [],
      background,
      noisy: background.share !== null && background.share > background.threshold,
    };
  };

  // Three rounds of process's p50 and the sidecar's: both steady; moving together (the sidecar's ratio
  // steady, process's own figure not); the sidecar's alone (its ratio not steady).
  const steadyRounds = () =>
    result(0.01, 3, [
      [1, 1.01, 1.02],
      [2, 2.02, 2.04],
    ]);
  const movingTogether = () =>
    result(0.01, 3, [
      [1, 2, 3],
      [2, 4, 6],
    ]);
  const sidecarMoving = () =>
    result(0.01, 3, [
      [1, 1, 1],
      [1, 2, 3],
    ]);

  it('says the machine was quiet or busy, with the share measured', () => {
    expect(verdict(result(0.012, 1, [[1], [2]]))).toEqual([
      "Quiet: other work used 1.2% of the machine's CPU while the runtimes sat idle (the mean of 2 idle periods, the most 1.2% in process's round 1).",
      'One round: a quick look. Leave out --rounds (5 to 9 rounds) to see the spread, and for figures to set side by side across runs.',
    ]);
    expect(verdict(result(0.31, 1, [[1], [2]]))[0]).toBe(
      "Noisy: other work used 31% of the machine's CPU while the runtimes sat idle (the mean of 2 idle periods, the most 31% in process's round 1), over 10% while idle: the machine was too busy to trust the figures. Run again when it is quieter.",
    );
    // The warm loads beside the idle periods: one past 20% makes the run noisy on its own.
    const loaded = (max: number) => {
      const r = result(0.012, 1, [[1], [2]]);
      const load = backgroundLoad(
        [
          { runtime: 'process', round: 1, share: 0.03 },
          { runtime: 'sidecar', round: 1, share: max },
        ],
        LOAD_BACKGROUND_THRESHOLD,
      );
      const background = { ...r.background, load };
      return { ...r, background, noisy: machineNoisy(background) };
    };
    expect(verdict(loaded(0.05))[0]).toBe(
      "Quiet: other work used 1.2% of the machine's CPU while the runtimes sat idle (the mean of 2 idle periods, the most 1.2% in process's round 1), and during their warm loads the most 5.0% in sidecar's round 1 (the mean of 2: 4.0%).",
    );
    expect(verdict(loaded(0.35))[0]).toBe(
      "Noisy: other work used 1.2% of the machine's CPU while the runtimes sat idle (the mean of 2 idle periods, the most 1.2% in process's round 1), and during their warm loads the most 35% in sidecar's round 1 (the mean of 2: 19%), over 20% in a warm load: the machine was too busy to trust the figures. Run again when it is quieter.",
    );
    expect(formatCompare(loaded(0.35))).toContain('over 20% in a warm load');
    expect(compareReportHtml(loaded(0.35))).toContain('over 20% in a warm load');
    expect(verdict(result(null, 1, [[1], [2]]))[0]).toBe(
      'The machine: its other work was not measured (idle periods under 1 s are too short: CPU time is counted in 10 ms ticks).',
    );
    const withIdle = {
      ...result(null, 1, [[1], [2]]),
      settings: { ...result(null, 1, [[1], [2]]).settings, idleMs: 3000 },
    };
    expect(verdict(withIdle)[0]).toBe('The machine: its other work was not measured (no /proc here).');
    // A result saved before msup measured other work has no `background`: the report still reads it.
    const { background: _, ...old } = result(0.01, 1, [[1], [2]]);
    expect(verdict(old as CompareResultV3)[0]).toBe(
      'The machine: its other work was not measured (a result from before msup measured it).',
    );
    expect(compareReportHtml(old as CompareResultV3)).toContain('a result from before msup measured it');
    expect(formatCompare(old as CompareResultV3)).toContain('a result from before msup measured it');
  });

  it('counts the figures their rounds leave uncertain: the ratios beside the baseline', () => {
    // The sidecar's p50 moves with process's: its ratio is steady (2, 2, 2), process's own is not.
    const moving = movingTogether();
    // The reports mark what the count counts: process's p50, not the sidecar's (its ratio is steady).
    expect(moving.runtimes[1]?.metrics.find((m) => m.id === 'p50Ms')?.noisy).toBe(true);
    expect(formatCompare(moving).match(/% !/g)).toHaveLength(1); // a cell: `2.00 ms ±184% !`
    expect(compareReportHtml(moving).match(/class="(num|ratio) noisy"/g)).toHaveLength(1);
    // process's own figure beside the sidecar: more rounds would not settle it (it moves with the machine).
    expect(verdict(moving)[1]).toBe(
      "1 marked ! of process's figures and the other runtimes' ratios to process: the 95% interval from the rounds reaches past ±14.1%, so another run may land more than 20% away. None of them is one more rounds would settle: process's own figures move with the machine from run to run (read the ratios), and a runtime left out gets no more rounds.",
    );
    // The sidecar's ratio marked: more rounds would settle it.
    const ratioMoving = sidecarMoving();
    expect(verdict(ratioMoving)[1]).toBe(
      "1 marked ! of process's figures and the other runtimes' ratios to process: the 95% interval from the rounds reaches past ±14.1%, so another run may land more than 20% away. More rounds narrow it (--max-rounds).",
    );
    expect(verdict(steadyRounds())[1]).toBe(
      "Steady: every figure's 95% interval from its 3 rounds is within ±14.1% of it (20%/√2: another run should land within ±20%).",
    );
  });

  it('shows ± as the half-width of the 95% interval from the rounds, the number the mark stands on', () => {
    // process's p50 over rounds of 1, 2 and 3 ms (marked); the sidecar's ratio, 2 in every round (steady).
    const moving = movingTogether();
    const own = uncertainty([1, 2, 3]) as number;
    expect(own).toBeGreaterThan(0.2);
    expect(formatCompare(moving)).toContain(`2.00 ms ±${Math.round(own * 100)}% !`);
    expect(formatCompare(moving)).toContain('2.00× ±0%');
    expect(compareReportHtml(moving)).toContain(`2.00 ms ±${Math.round(own * 100)}%`);
    // Unlike half the spread (10 and 11% here), it narrows as rounds are added: runs of different
    // rounds show ±s that compare.
    const alternating = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 9 : 11));
    expect(spread(alternating(8))).toBeCloseTo(0.2);
    expect(spread(alternating(3))).toBeCloseTo(2 / 9);
    expect(formatUncertainty(uncertainty(alternating(8)), 8)).toBe(' ±12%');
    expect(formatUncertainty(uncertainty(alternating(3)), 3)).toBe(' ±20%');
    // Near the mark's 14.1%, one decimal, so the ± and the mark never read as a contradiction; none with
    // one round.
    expect(isNoisy(alternating(3))).toBe(true);
    expect(formatUncertainty(0.1414, 5)).toBe(' ±14.1%');
    expect(formatUncertainty(0.145, 5)).toBe(' ±14.5%');
    expect(formatUncertainty(0.2, 5)).toBe(' ±20%');
    expect(formatUncertainty(0.213, 5)).toBe(' ±21%');
    expect(formatUncertainty(0.5, 1)).toBe('');
    expect(formatUncertainty(null, 5)).toBe('');
  });

  it('marks a figure whose interval reaches past 20%/√2: two runs that each know it that well may land 20% apart', () => {
    // Six rounds alternating 9 and 11: the 95% interval is about ±15.6%, within ±20% (the mark until
    // 2026-12-07) but past ±14.1%. Two runs, each that uncertain, put their values up to 15.6% × √2 = 22%
    // apart: a pair of compares that day landed 22% apart on a ratio known to ±16% and ±8%.
    const alternating = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 9 : 11));
    const u = uncertainty(alternating(6)) as number;
    expect(u).toBeLessThan(0.2);
    expect(u * Math.SQRT2).toBeGreaterThan(0.2);
    expect(isNoisy(alternating(6))).toBe(true);
    // Eight rounds narrow it to about ±12%, within 14.1%: not marked.
    expect(isNoisy(alternating(8))).toBe(false);
  });

  it('says the slowest cold start is left aside when its rounds leave it past the mark it never gets', () => {
    // Steady by its ratios, but a sidecar's slowest cold start at 100 and 160 ms in turn: ±2x%, no mark.
    const steady = steadyRounds();
    const colds = [100, 160, 100, 160, 100];
    const wide = {
      ...steady,
      runtimes: steady.runtimes.map((r) =>
        r.runtime === 'sidecar'
          ? {
              ...r,
              // Its slowest cold start replaced by that row folded from the rounds above.
              metrics: r.metrics.map((m) =>
                m.id === 'coldStartMaxMs'
                  ? (foldRounds(
                      colds.map((c) => ({ coldStartMaxMs: c })),
                      false,
                    ).find((f) => f.id === 'coldStartMaxMs') ?? m)
                  : m,
              ),
            }
          : r,
      ),
    };
    const max = wide.runtimes
      .find((r) => r.runtime === 'sidecar')
      ?.metrics.find((m) => m.id === 'coldStartMaxMs');
    expect(max?.uncertainty).toBeGreaterThan(NOISE_THRESHOLD);
    expect(max?.noisy).toBe(false);
    expect(verdict(wide)[1]).toMatch(
      /^Steady: .*within ±14\.1% of it .*, the slowest cold start's aside \(shown without a ratio, never marked\)\.$/,
    );
    expect(verdict(steady)[1]).not.toMatch(/slowest cold start/);
  });

  it('says how many rounds were added while figures were marked, and when the most was reached', () => {
    const steady = steadyRounds();
    const added = { ...steady, settings: { ...steady.settings, minRounds: 2, maxRounds: 4 } };
    expect(verdict(added)[1]).toBe(
      "Steady: every figure's 95% interval from its 3 rounds (1 added to the 2 asked for while figures were marked !) is within ±14.1% of it (20%/√2: another run should land within ±20%).",
    );
    const moving = movingTogether();
    const ratioMoving = sidecarMoving();
    const most = { ...ratioMoving, settings: { ...ratioMoving.settings, minRounds: 2, maxRounds: 3 } };
    expect(verdict(most)[1]).toBe(
      "1 marked ! of process's figures and the other runtimes' ratios to process: the 95% interval from the rounds reaches past ±14.1%, after 3 rounds, the most this run would add (--max-rounds), so another run may land more than 20% away. More rounds narrow it (--max-rounds).",
    );
    // Exactly the rounds asked for (--rounds without --max-rounds): nothing said of adding.
    const exact = { ...moving, settings: { ...moving.settings, minRounds: 3, maxRounds: 3 } };
    expect(verdict(exact)[1]).toBe(verdict(moving)[1]);
  });
});
