// The pure parts of msup compare: percentiles, the histogram, rounds folded with their spread and noise
// flag, the cost models, the load target, the process-tree union, the table and the progress bar.
import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../src/cli/args.js';
import { progressBar, roundOf } from '../../src/cli/compare-command.js';
import {
  chooseBaseline,
  chooseRuntimes,
  pairWithBaseline,
  plannedBaseline,
  roundOrder,
  roundPlan,
} from '../../src/compare/compare.js';
import { ALWAYS_ON_PRICES, alwaysOnCost, functionCost } from '../../src/compare/cost.js';
import { treeUnion } from '../../src/compare/footprint.js';
import { formatRatio, formatValue } from '../../src/compare/format.js';
import {
  figureNoisy,
  foldRounds,
  ratioFigure,
  withPairedRatios,
  withRatios,
} from '../../src/compare/metrics.js';
import { pathProblem } from '../../src/compare/options.js';
import {
  addHistograms,
  histogram,
  isNoisy,
  LATENCY_BUCKETS_MS,
  median,
  pairwiseRatio,
  percentile,
  spread,
  t95,
  trimmedMean,
  uncertainty,
} from '../../src/compare/stats.js';
import { escapeHtml } from '../../src/compare/svg-charts.js';
import { onDemand, pickTarget } from '../../src/compare/target.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { RUNTIME_NAMES } from '../../src/config/runtime-names.js';
import type { ProcStat } from '../../src/runtime/proc.js';
import type { InstanceInfo } from '../../src/types.js';
import { runtimeReport } from '../helpers/compare.js';

describe('percentiles and medians', () => {
  it('takes the nearest rank of the sorted values', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('takes the median of what is there', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([null, 5, null])).toBe(5);
    expect(median([null])).toBeNull();
  });
});

describe('spread and the noise flag', () => {
  it('shows the spread as (max − min) / median', () => {
    expect(spread([100, 110, 105])).toBeCloseTo(10 / 105);
    expect(spread([100, 130, 110])).toBeCloseTo(30 / 110);
  });

  it('flags a figure whose 95% interval from its rounds reaches past ±14.1%, 20%/√2 (robust standard errors)', () => {
    // t(n − 1) × max(1.4826 × MAD, IQR / 1.349) / √n over the median.
    expect(uncertainty([100, 110, 105])).toBeCloseTo((4.303 * 1.4826 * 5) / Math.sqrt(3) / 105, 9);
    expect(isNoisy([100, 110, 105])).toBe(true); // 0.175: within ±20%, past 20%/√2
    expect(isNoisy([100, 104, 102])).toBe(false); // 0.072
    expect(isNoisy([80, 110, 140])).toBe(true); // 1.0
    // Two rounds say little: t is 12.7 for one degree of freedom.
    expect(uncertainty([100, 120])).toBeCloseTo((12.706 * 1.4826 * 10) / Math.sqrt(2) / 110, 9);
    expect(isNoisy([100, 120])).toBe(true);
    expect(isNoisy([100, 101])).toBe(false);
    // Rounds that mostly tie do not hide the others (the MAD is 0 here; the IQR is not).
    expect(isNoisy([10, 10, 10, 30, 30])).toBe(true);
    expect(t95(4)).toBe(2.776);
    expect(t95(30)).toBeCloseTo(2.04, 2);
    // One round that a burst of other work moved does not widen it alone (the spread, 1.7, would flag it).
    expect(isNoisy([10, 10.5, 11, 11.5, 30])).toBe(false);
    // The same disagreement over more rounds narrows it; the spread stays 20%.
    expect(isNoisy([9, 11])).toBe(true);
    expect(isNoisy([9, 11, 9, 11, 9, 11, 9, 11])).toBe(false);
    expect(spread([9, 11, 9, 11, 9, 11, 9, 11])).toBeCloseTo(0.2);
  });

  it('says nothing with one round, or a median of 0', () => {
    expect(spread([42])).toBeNull();
    expect(isNoisy([42])).toBe(false);
    expect(spread([0, 0, 1])).toBeNull();
    expect(spread([null, 3])).toBeNull();
    expect(uncertainty([42])).toBeNull();
    expect(uncertainty([0, 0, 1])).toBeNull();
  });

  it('folds rounds into one value per row, never flagging counts', () => {
    const rows = foldRounds(
      [
        { p50Ms: 1, errors5xx: 0, throughputRps: 1000, coldStartMs: 100 },
        { p50Ms: 2, errors5xx: 5, throughputRps: 1010, coldStartMs: 110 },
        { p50Ms: 1.5, errors5xx: 1, throughputRps: 990, coldStartMs: 105 },
      ],
      true,
    );
    const row = (id: string) => rows.find((r) => r.id === id);
    expect(row('p50Ms')).toMatchObject({ value: 1.5, rounds: [1, 2, 1.5], noisy: true, kind: 'measured' });
    expect(row('throughputRps')).toMatchObject({ value: 1000, noisy: false });
    expect(row('errors5xx')).toMatchObject({ value: 1, spread: null, noisy: false });
    // Platform rows of a runtime that emulates a platform are labelled emulated; cost is modelled.
    expect(row('coldStartMs')?.kind).toBe('emulated');
    expect(row('costPerMillionUsd')).toMatchObject({ kind: 'modelled', value: null });
    expect(foldRounds([{ coldStartMs: 1 }], false).find((r) => r.id === 'coldStartMs')?.kind).toBe(
      'measured',
    );
  });
});

describe('ratios to the baseline, round by round', () => {
  it('divides each round by the same round of the baseline, and takes the median', () => {
    // The machine got twice as slow in round 2: the figures move 2x, their ratio does not.
    const ratio = ratioFigure([20, 40, 21], [10, 20, 10]);
    expect(ratio?.rounds).toEqual([2, 2, 2.1]);
    expect(ratio?.value).toBe(2);
    expect(ratio?.spread).toBeCloseTo(0.1 / 2);
    expect(ratio?.noisy).toBe(false);
    const moving = ratioFigure([20, 40, 30], [10, 20, 15]);
    expect(moving).toMatchObject({ value: 2, noisy: false });
    expect(isNoisy([20, 40, 30])).toBe(true);
    // A round without both figures (or a baseline of 0) has no ratio; none at all gives null.
    expect(ratioFigure([20, null, 30], [10, 10, 0])?.rounds).toEqual([2, null, null]);
    expect(ratioFigure([1, 2], [null, 0])).toBeNull();
  });

  it('takes the mean of the middle rounds: the median of three, the middle three of five', () => {
    expect(trimmedMean([3, 1, 2])).toBe(2);
    expect(trimmedMean([1, 2])).toBe(1.5);
    expect(trimmedMean([9, 1, 2, 3, 4])).toBe(3);
    expect(trimmedMean([1, 2, 3, 4, 5, 6, 7, 100])).toBe(4.5); // a quarter (2) dropped at each end
    expect(trimmedMean([null, 4, Number.NaN])).toBe(4);
    expect(trimmedMean([null])).toBeNull();
    // Five rounds, one moved by a burst of other work: it is left out, and three rounds are weighed.
    const ratio = ratioFigure([10, 10.5, 11, 30, 10.25], [5, 5, 5, 5, 5]);
    expect(ratio?.value).toBeCloseTo((2.05 + 2.1 + 2.2) / 3, 9); // 2, 2.1, 2.2, 6, 2.05: 2 and 6 left out
    expect(ratio?.noisy).toBe(false); // nor does that round make the figure uncertain
  });

  it('divides single requests by every baseline request, and takes the median of those', () => {
    expect(pairwiseRatio([2, 4], [1, 2])).toBe(2); // 2, 1, 4, 2
    expect(pairwiseRatio([3], [1, 2, 3])).toBe(1.5); // 3, 1.5, 1
    expect(pairwiseRatio([], [1])).toBeNull();
    expect(pairwiseRatio([2], [0, 1])).toBe(2); // a baseline request of 0 ms says nothing: left out
    expect(pairwiseRatio([2], [0])).toBeNull();
    // A row with its requests: each round's ratio is taken over the round's requests (2, 2, 9 over 1, 3,
    // 3: 2, where the medians give 2 / 3), then the rounds are folded as any ratio.
    const ratio = ratioFigure(
      [2, 4],
      [3, 1],
      [
        [2, 2, 9],
        [4, 3, 5],
      ],
      [[1, 3, 3], [1]],
    );
    expect(ratio?.rounds).toEqual([2, 4]);
    expect(ratio?.value).toBe(3);
    // A round without requests on one side: the ratio of its figures.
    expect(ratioFigure([2, 4], [1, 1], [[2], []], [[1], [1]])?.rounds).toEqual([2, 4]);
    // A runtime that failed after two rounds: only the rounds both ran count, each with its own requests;
    // the baseline's later rounds are not pooled with the earlier ones.
    const failed = ratioFigure([2, 2], [2, 2, 6, 6, 6], [[2], [2]], [[2], [2], [6], [6], [6]]);
    expect(failed).toMatchObject({ value: 1, rounds: [1, 1] });
    // The machine three times slower in round 2: each round's requests over the same round's, 1.5 both.
    const drift = ratioFigure([3, 9], [2, 6], [[3, 3], [9]], [[2, 2, 2], [6]]);
    expect(drift).toMatchObject({ value: 1.5, rounds: [1.5, 1.5] });
    const folded = foldRounds([{ firstAfterIdleMs: 2 }, { firstAfterIdleMs: 4 }], false, {}, [
      { firstAfterIdleMs: [2, 2, 9] },
      {},
    ]);
    const row = folded.find((m) => m.id === 'firstAfterIdleMs');
    expect(row?.samples).toEqual([[2, 2, 9], []]);
    expect(folded.find((m) => m.id === 'p50Ms')?.samples).toBeUndefined();
  });

  it('takes the first-request rows over the requests of every round at once (pooled), the rest round by round', () => {
    // Rounds of one request each against three: round by round 2, 2 and 3 (their median 2); every request
    // over every baseline request at once: eight 1s, eight 3s and two 9s, whose median is 3.
    const mine = [[3], [3], [9]];
    const theirs = [
      [1, 3],
      [1, 3],
      [3, 3],
    ];
    expect(ratioFigure([3, 3, 9], [2, 2, 3], mine, theirs)?.value).toBe(2);
    const pooled = ratioFigure([3, 3, 9], [2, 2, 3], mine, theirs, true);
    expect(pooled).toMatchObject({ value: 3, rounds: [2, 2, 3] }); // the rounds' ratios stay
    expect(pooled?.noisy).toBe(isNoisy([2, 2, 3]));
    // Only rounds with both figures: a baseline of 0 in round 3, and rounds the runtime did not run.
    expect(ratioFigure([3, 3, 9], [2, 2, 0], mine, theirs, true)?.value).toBe(2);
    expect(ratioFigure([2, 2], [2, 2, 6, 6, 6], [[2], [2]], [[2], [2], [6], [6], [6]], true)?.value).toBe(1);
    // Without requests, pooled means nothing: the middle rounds' mean.
    expect(ratioFigure([3, 3, 9], [1, 1, 1], undefined, undefined, true)?.value).toBe(3);
    // withRatios pools the two first-request rows, not recovery (kills under load, where each round's
    // ratio cancels the machine's load of the round).
    const rows = (samples: number[][]) =>
      foldRounds(
        samples.map((s) => ({ firstAfterIdleMs: s[0] as number, recoveryMs: s[0] as number })),
        false,
        {},
        samples.map((s) => ({ firstAfterIdleMs: s, recoveryMs: s })),
      );
    const both = withRatios(rows(mine), rows(theirs));
    expect(both.find((m) => m.id === 'firstAfterIdleMs')?.ratio?.value).toBe(3);
    expect(both.find((m) => m.id === 'recoveryMs')?.ratio?.value).toBe(2);
  });

  it('keeps every instance cold start, and takes the cold-start rows as the median and max of them; the max has no ratio', () => {
    // Each round's cold starts (three instances; a function's environments), and the figures made of them.
    const fold = (colds: number[][]) =>
      foldRounds(
        colds.map((c) => ({ coldStartMs: median(c), coldStartMaxMs: Math.max(...c) })),
        false,
        {},
        colds.map((c) => ({ coldStartMs: c, coldStartMaxMs: c })),
      );
    const base = fold([
      [10, 20, 40],
      [10, 10, 20],
    ]);
    const fn = fold([
      [30, 30, 30, 60],
      [15, 25, 25, 30],
    ]);
    expect(base.find((m) => m.id === 'coldStartMaxMs')?.samples).toEqual([
      [10, 20, 40],
      [10, 10, 20],
    ]);
    const rows = withRatios(fn, base);
    // Round 1: median 30 over 20, max 60 over 40; round 2: median 25 over 10, max 30 over 20. Not the
    // median of every pair (round 1's would be 30 / 20 too, round 2's 25 / 10 = 2.5: 2.5 and 3 below).
    expect(rows.find((m) => m.id === 'coldStartMs')?.ratio?.rounds).toEqual([1.5, 2.5]);
    // The slowest instance is a figure of its own (60 and 30: median 45), shown without a ratio and never
    // marked, however far its rounds are apart: the maximum of a handful of instances moved 36% between two
    // compares whose rounds each put its ratio within ±9% (2026-12-06).
    const max = rows.find((m) => m.id === 'coldStartMaxMs');
    expect(max?.value).toBe(45);
    expect(max?.ratio).toBeNull();
    expect(max?.noisy).toBe(false);
    expect(max?.uncertainty).toBeGreaterThan(0.2);
    expect(max?.note).toMatch(/no ratio/);
  });

  it("takes a function's init over the baseline's cold start of the same round, which has no init", () => {
    // The machine half as fast in round 2: the init and the baseline's cold starts both doubled.
    const base = foldRounds([{ coldStartMs: 100 }, { coldStartMs: 200 }], false, {}, [
      { coldStartMs: [90, 100, 300] },
      { coldStartMs: [180, 200, 600] },
    ]);
    const fn = foldRounds(
      [
        { firstRequestInitMs: 50, coldStartMs: 80 },
        { firstRequestInitMs: 100, coldStartMs: 160 },
      ],
      false,
    );
    expect(base.find((m) => m.id === 'firstRequestInitMs')?.value).toBeNull();
    const init = withRatios(fn, base).find((m) => m.id === 'firstRequestInitMs');
    // Over the figure (the median of the round's instances), not over each instance's cold start.
    expect(init?.ratio).toMatchObject({ value: 0.5, rounds: [0.5, 0.5], noisy: false });
    expect(init?.rounds).toEqual([50, 100]); // its own value stays in ms, the rounds 2x apart
    expect(init?.noisy).toBe(true);
    expect(init?.note).toMatch(/over the baseline's cold start/);
  });

  it('gives every figure but the counts its ratio, and judges noise by the ratio', () => {
    const base = foldRounds(
      [
        { p50Ms: 1, errors5xx: 1 },
        { p50Ms: 2, errors5xx: 1 },
      ],
      false,
    );
    const other = foldRounds(
      [
        { p50Ms: 3, errors5xx: 2 },
        { p50Ms: 6, errors5xx: 2 },
      ],
      false,
    );
    const rows = withRatios(other, base);
    const p50 = rows.find((m) => m.id === 'p50Ms');
    expect(p50).toMatchObject({ noisy: true, ratio: { value: 3, rounds: [3, 3], noisy: false } });
    expect(figureNoisy(p50 as NonNullable<typeof p50>)).toBe(false);
    expect(rows.find((m) => m.id === 'errors5xx')?.ratio).toBeNull();
    expect(base.every((m) => m.ratio === null)).toBe(true);
  });

  it('alternates the order of the runtimes (A B B A) and divides by process when it ran', () => {
    expect(roundOrder(['a', 'b', 'c'], 1)).toEqual(['a', 'b', 'c']);
    expect(roundOrder(['a', 'b', 'c'], 2)).toEqual(['c', 'b', 'a']);
    expect(roundOrder(['a', 'b', 'c'], 3)).toEqual(['a', 'b', 'c']);
    const ran = (runtime: string, status: 'ran' | 'failed' = 'ran') =>
      runtimeReport(runtime, status === 'ran' ? foldRounds([{ p50Ms: 1 }], false) : [], status);
    expect(chooseBaseline([ran('function'), ran('process')])).toBe('process');
    expect(chooseBaseline([ran('process', 'failed'), ran('sidecar')])).toBe('sidecar');
    expect(chooseBaseline([ran('process', 'failed')])).toBeNull();
    expect(formatRatio(1.234)).toBe('1.23×');
    expect(formatRatio(45.41)).toBe('45.4×');
  });
});

describe('the round plan: the baseline beside every other runtime', () => {
  const all = ['process', 'container', 'function', 'sidecar'];

  it('puts a run of the baseline beside each other runtime, reversed in even rounds', () => {
    expect(plannedBaseline(all)).toBe('process');
    expect(plannedBaseline(['function', 'sidecar'])).toBe('function');
    expect(roundPlan(all, 1, 'process')).toEqual(['container', 'process', 'function', 'sidecar', 'process']);
    expect(roundPlan(all, 2, 'process')).toEqual(['process', 'sidecar', 'function', 'process', 'container']);
    expect(roundPlan(all, 3, 'process')).toEqual(roundPlan(all, 1, 'process'));
    // Asked in another order: the others keep theirs.
    expect(roundPlan(['sidecar', 'process', 'function'], 1, 'process')).toEqual([
      'sidecar',
      'process',
      'function',
    ]);
    // One other runtime: two runs, side by side.
    expect(roundPlan(['process', 'function'], 1, 'process')).toEqual(['function', 'process']);
    expect(roundPlan(['process', 'function'], 2, 'process')).toEqual(['process', 'function']);
    // Four others: two runs of the baseline still do.
    expect(roundPlan(['p', 'a', 'b', 'c', 'd'], 1, 'p')).toEqual(['a', 'p', 'b', 'c', 'p', 'd']);
    // Nothing to plan around: as asked (A B B A).
    expect(roundPlan(['process'], 2, 'process')).toEqual(['process']);
    expect(roundPlan(['a', 'b'], 2, null)).toEqual(roundOrder(['a', 'b'], 2));
    // Every runtime is beside a run of the baseline, in every round.
    for (const round of [1, 2]) {
      const plan = roundPlan(all, round, 'process');
      for (const r of all.slice(1)) {
        const i = plan.indexOf(r);
        expect([r, plan[i - 1] === 'process' || plan[i + 1] === 'process']).toEqual([r, true]);
      }
    }
  });

  it('pairs each runtime with the baseline run beside it, else the baseline’s first of the round', () => {
    const plan = roundPlan(all, 1, 'process'); // container process function sidecar process
    const got = ['c', 'p1', 'f', 's', 'p2'];
    expect(pairWithBaseline(plan, got, 'process')).toEqual(
      new Map([
        ['container', 'p1'],
        ['function', 'p1'],
        ['sidecar', 'p2'],
      ]),
    );
    // The second run of the baseline failed: the sidecar is paired with its first; a runtime that did not
    // run is not paired.
    expect(pairWithBaseline(plan, ['c', 'p1', undefined, 's', undefined], 'process')).toEqual(
      new Map([
        ['container', 'p1'],
        ['sidecar', 'p1'],
      ]),
    );
    // No run of the baseline in the round: no ratio for it.
    expect(pairWithBaseline(plan, ['c', undefined, 'f', 's', undefined], 'process').get('sidecar')).toBe(
      undefined,
    );
    const even = roundPlan(all, 2, 'process'); // process sidecar function process container
    expect(pairWithBaseline(even, ['p1', 's', 'f', 'p2', 'c'], 'process')).toEqual(
      new Map([
        ['sidecar', 'p1'],
        ['function', 'p2'],
        ['container', 'p2'],
      ]),
    );
  });

  it('divides each round by the baseline run kept beside it, and without one by the same round', () => {
    const report = (runtime: string, rounds: number[]) =>
      runtimeReport(
        runtime,
        foldRounds(
          rounds.map((p50Ms) => ({ p50Ms })),
          false,
        ),
      );
    const base = report('process', [1, 1, 1]);
    const sidecar = {
      ...report('sidecar', [3, 6, 3]),
      // The machine was twice as slow in round 2 for both: beside it, the baseline took 2 ms.
      baselineRounds: {
        values: [{ p50Ms: 1 }, { p50Ms: 2 }, { p50Ms: 1.5 }],
        samples: [{}, {}, {}],
      },
    };
    const p50 = (r: { metrics: { id: string; ratio: unknown }[] }) =>
      r.metrics.find((m) => m.id === 'p50Ms')?.ratio;
    expect(p50(withPairedRatios(sidecar, base))).toMatchObject({ rounds: [3, 3, 2], value: 3 });
    // A result kept before the plan has no baselineRounds: the baseline's own rounds, as before.
    expect(p50(withPairedRatios(report('sidecar', [3, 6, 3]), base))).toMatchObject({ rounds: [3, 6, 3] });
    // Single requests beside: a round's ratio over those of the baseline run beside it.
    const withSamples = {
      ...report('function', [2]),
      metrics: foldRounds([{ firstRequestMs: 4 }], false, {}, [{ firstRequestMs: [4] }]),
      baselineRounds: { values: [{ firstRequestMs: 2 }], samples: [{ firstRequestMs: [2, 2] }] },
    };
    const first = withPairedRatios(withSamples, base).metrics.find((m) => m.id === 'firstRequestMs');
    expect(first?.ratio).toMatchObject({ rounds: [2], value: 2 });
  });
});

describe('the latency histogram', () => {
  it('puts each value in the first bucket whose bound holds it', () => {
    const counts = histogram([0.05, 0.1, 0.15, 1, 1.2, 99999]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(6);
    expect(counts[0]).toBe(2); // ≤ 0.1
    expect(counts[1]).toBe(1); // ≤ 0.2
    expect(counts[LATENCY_BUCKETS_MS.indexOf(1)]).toBe(1);
    expect(counts[LATENCY_BUCKETS_MS.indexOf(1.5)]).toBe(1);
    expect(counts.at(-1)).toBe(1); // above 10 s
    expect(addHistograms([1, 2], [3, 4])).toEqual([4, 6]);
  });
});

describe('the cost models', () => {
  it('prices always-on instances by the hour, at the measured throughput', () => {
    const cost = alwaysOnCost({ instances: 2, memoryMb: 1024, cpus: 1, throughputRps: 1000 });
    const hourly = 2 * (1 * ALWAYS_ON_PRICES.usdPerGbHour + 1 * ALWAYS_ON_PRICES.usdPerVcpuHour);
    expect(cost.usdPerIdleHour).toBeCloseTo(hourly);
    expect(cost.usdPerMillion).toBeCloseTo((hourly * 1_000_000) / 1000 / 3600);
    expect(cost.modelled).toBe(true);
    expect(cost.source).toContain('fargate');
    // Without memory and cpus, the smallest task.
    const small = alwaysOnCost({ instances: 1, memoryMb: null, cpus: null, throughputRps: 0 });
    expect(small.usdPerIdleHour).toBeCloseTo(0.5 * 0.004445 + 0.25 * 0.04048);
    expect(small.usdPerMillion).toBeNull();
  });

  it('scales a function meter to a million requests', () => {
    const cost = functionCost({ requests: 500, usdTotal: 0.0001, gbSeconds: 5 });
    expect(cost.usdPerMillion).toBeCloseTo(0.2);
    expect(cost.usdPerIdleHour).toBe(0);
    expect(cost.source).toContain('lambda');
    expect(functionCost({ requests: 0, usdTotal: 0, gbSeconds: 0 }).usdPerMillion).toBeNull();
  });
});

describe('the load target', () => {
  const config = (raw: Parameters<typeof resolveConfig>[0]) => resolveConfig(raw, '/tmp/p');
  it("takes the shared front's route for /, else the first HTTP service with a port", () => {
    const services = {
      worker: { command: 'w' },
      api: { command: 'a', port: 0 },
      web: { command: 'b', port: 0 },
    };
    expect(
      pickTarget(
        config({
          services,
          proxy: {
            port: 0,
            routes: [
              { path: '/api', service: 'api' },
              { path: '/', service: 'web' },
            ],
          },
        }),
      ),
    ).toEqual({ via: 'front', path: '/', service: 'web' });
    expect(pickTarget(config({ services }))).toEqual({ via: 'service', path: '/', service: 'api' });
    expect(pickTarget(config({ services: { worker: { command: 'w' } } }))).toBeNull();
  });

  it('sends the load to --path: the service the front routes it to, or the first HTTP service', () => {
    const services = { api: { command: 'a', port: 0 }, web: { command: 'b', port: 0 } };
    const front = config({
      services,
      proxy: {
        port: 0,
        routes: [
          { path: '/', service: 'web' },
          { path: '/api', service: 'api' },
          { path: '/admin', host: 'admin.localhost', service: 'web' },
        ],
      },
    });
    expect(pickTarget(front, '/api/items?limit=5')).toEqual({
      via: 'front',
      path: '/api/items?limit=5',
      service: 'api',
    });
    expect(pickTarget(front, '/apix')).toEqual({ via: 'front', path: '/apix', service: 'web' });
    expect(pickTarget(config({ services }), '/health')).toEqual({
      via: 'service',
      path: '/health',
      service: 'api',
    });
    expect(pathProblem('/a/b?c=d')).toBeNull();
    expect(pathProblem('a/b')).toMatch(/must start with "\/"/);
    expect(pathProblem('/a b')).toMatch(/spaces or control characters/);
    expect(pathProblem('/a\nb')).toMatch(/spaces or control characters/);
    // What a client would resolve away before sending: the load would go elsewhere.
    expect(pathProblem('/api/../admin')).toMatch(/"\." or "\.\." segments/);
    expect(pathProblem('/./a')).toMatch(/segments/);
    expect(pathProblem('/a#frag')).toMatch(/fragment/);
    expect(pathProblem('/api/%2e%2e/admin')).toMatch(/would be sent as "\/admin"/);
    expect(pathProblem('/api\\..\\admin')).toMatch(/would be sent as "\/admin"/);
    expect(pathProblem('/caf\u00e9')).toMatch(/would be sent as "\/caf%C3%A9"/);
    expect(pathProblem('/caf%C3%A9?q=%20')).toBeNull();
    expect(pathProblem('/a?next=../b')).toBeNull();
    expect(pathProblem('//[x')).toMatch(/"\/\/"/);
    expect(pathProblem('//host/x')).toMatch(/"\/\/"/);
    expect(pathProblem('/a..b/.c')).toBeNull();
  });

  it('knows an on-demand instance by its details', () => {
    const info = (details?: Record<string, unknown>) => ({ details }) as unknown as InstanceInfo;
    expect(onDemand(info({ coldStarts: 2, list: [] }))).not.toBeNull();
    expect(onDemand(info({ sidecar: {} }))).toBeNull();
    expect(onDemand(info())).toBeNull();
  });
});

describe('the process-tree union', () => {
  const stat = (pid: number, ppid: number, rss = 1): ProcStat => ({
    pid,
    ppid,
    pgrp: pid,
    state: 'S',
    startTime: '0',
    cpuMs: 1,
    childrenCpuMs: 0,
    rssBytes: rss,
  });
  it('counts each process once, and leaves out the excluded subtree', () => {
    // msup 10 → app 11 → its child 12; msup → loadgen 13 → 14; conmon 20 → container 21 → 22.
    const stats = [
      stat(10, 1),
      stat(11, 10),
      stat(12, 11),
      stat(13, 10),
      stat(14, 13),
      stat(20, 1),
      stat(21, 20),
      stat(22, 21),
      stat(30, 1),
    ];
    const pids = treeUnion(stats, [10, 11, 20, 21], [13])
      .map((s) => s.pid)
      .sort((a, b) => a - b);
    expect(pids).toEqual([10, 11, 12, 20, 21, 22]);
  });
});

describe('choosing the runtimes', () => {
  it('takes the registry by default, and refuses an unknown name', () => {
    expect(chooseRuntimes(undefined)).toEqual([...RUNTIME_NAMES]);
    expect(chooseRuntimes(['function', 'process', 'function'])).toEqual(['function', 'process']);
    expect(() => chooseRuntimes(['lambda'])).toThrow(/unknown runtime "lambda"/);
  });

  it('parses the command line, with clear errors', () => {
    const args = parseCliArgs([
      'compare',
      '--runtimes',
      'process,function',
      '--requests',
      '300',
      '--concurrency',
      '2',
      '--duration',
      '20',
      '--rounds',
      '3',
      '--max-rounds',
      '7',
      '--html',
      'r.html',
    ]);
    expect(args.command).toBe('compare');
    expect(args.compare).toMatchObject({
      runtimes: ['process', 'function'],
      requests: 300,
      concurrency: 2,
      duration: '20s',
      rounds: 3,
      maxRounds: 7,
      html: 'r.html',
    });
    expect(() => parseCliArgs(['compare', '--max-rounds', 'many'])).toThrow(
      /--max-rounds: expected a whole number/,
    );
    expect(() => parseCliArgs(['compare', '--runtimes', 'proces'])).toThrow(/did you mean "process"/);
    expect(() => parseCliArgs(['compare', '--requests', '0'])).toThrow(/--requests: expected a whole number/);
    expect(() => parseCliArgs(['compare', '--duration', 'soon'])).toThrow(/--duration/);
    // A load of under a second measures next to nothing (0: nothing at all).
    for (const short of ['0', '0.0001', '500ms', '0s']) {
      expect(() => parseCliArgs(['compare', '--duration', short])).toThrow(
        `--duration: expected at least 1s, got "${short}" (see msup compare --help)`,
      );
    }
    expect(parseCliArgs(['compare', '--duration', '1']).compare.duration).toBe('1s');
    expect(parseCliArgs(['compare', '--path', '/api/items?x=1']).compare.path).toBe('/api/items?x=1');
    expect(() => parseCliArgs(['compare', '--path', 'api'])).toThrow(/--path: it must start with "\/"/);
    expect(() => parseCliArgs(['compare', '--path', '/a b'])).toThrow(
      /--path: it must not hold spaces or control characters, got "\/a b"/,
    );
  });
});

describe('the words of a compare', () => {
  it('writes each figure in its unit', () => {
    expect(formatValue(null, 'ms')).toBe('–');
    expect(formatValue(1.234, 'ms')).toBe('1.23 ms');
    expect(formatValue(23.45, 'ms')).toBe('23.4 ms');
    expect(formatValue(1234.5, 'ms')).toBe('1235 ms');
    expect(formatValue(512 * 1024 * 1024, 'bytes')).toBe('512 MB');
    expect(formatValue(0.0402, 'usd')).toBe('$0.0402');
    expect(formatValue(0.000123, 'usd')).toBe('$0.000123');
    expect(formatValue(999.6, 'req/s')).toBe('1000 req/s');
  });

  it('draws a progress bar and escapes HTML', () => {
    expect(progressBar(5, 10, 10)).toBe('[=====     ] 5/10');
    expect(progressBar(20, 10, 4)).toBe('[====] 20/10');
    expect(roundOf({ round: 2, rounds: 5, maxRounds: 9 })).toBe(' (round 2/5)');
    expect(roundOf({ round: 7, rounds: 5, maxRounds: 9 })).toBe(' (round 7, up to 9)');
    expect(roundOf({ round: 1, rounds: 1, maxRounds: 1 })).toBe('');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
