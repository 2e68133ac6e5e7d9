// How many rounds a compare runs, with fake rounds (compareWith's parts) whose figures are scripted: five
// without --rounds, then another while a figure set side by side across runs is marked (a ratio to the
// baseline, or a figure without one), up to the most; exactly --rounds when only that is given; no round
// added for a runtime left out, for ratios once the baseline is left out, nor for the baseline's own
// figures beside other runtimes.
import { describe, expect, it } from 'vitest';
import { type CompareParts, compareWith } from '../../src/compare/compare.js';
import { verdict } from '../../src/compare/format.js';
import type { LoadClient } from '../../src/compare/load-client.js';
import { foldRounds, unsettledFigures, withRatios } from '../../src/compare/metrics.js';
import type { RoundOutcome, RoundSettings } from '../../src/compare/round.js';
import { LATENCY_BUCKETS_MS } from '../../src/compare/stats.js';
import type { CompareOptions, CompareProgress } from '../../src/compare/types.js';
import { runtimeReport } from '../helpers/compare.js';

/** p50 by round (from 1); past the list, its last value; a function throws to fail that round. */
type Script = Record<string, (round: number) => number>;

/**
 * A sidecar whose p50 (and so its ratio over process's steady 1 ms) settles from round 6 on: marked after 5
 * and 6 rounds (95% intervals ±28% and ±18%), not after 7 (±10%). With the mark at ±20% (before 2026-12-07)
 * it settled after 6: ±18% is within ±20% but past 20%/√2.
 */
const SETTLES_AT_7 = [2.0, 2.62, 2.0, 2.62, 2.03];
const series = (values: number[]) => (round: number) => values[round - 1] ?? (values.at(-1) as number);
const steady = () => 1;
/** Never settles: 1 and 3 in turn. */
const jumpy = (round: number) => (round % 2 === 1 ? 1 : 3);
const failsFrom = (from: number, before: (round: number) => number) => (round: number) => {
  if (round >= from) throw new Error(`fails in round ${round}`);
  return before(round);
};

function outcome(p50: number): RoundOutcome {
  return {
    values: { p50Ms: p50 },
    samples: {},
    histogram: LATENCY_BUCKETS_MS.map(() => 0),
    memory: [],
    target: { via: 'service', path: '/', service: 'web' },
    onDemand: false,
    cost: null,
    notes: [],
    background: [],
    loadBackground: null,
  };
}

/** Runs compareWith on fake rounds: each runtime's p50 from the script; which runtime ran in which round. */
async function run(script: Script, options: CompareOptions = {}) {
  const runs: string[] = [];
  const events: CompareProgress[] = [];
  let round = 0;
  const parts: CompareParts = {
    openLoad: async () => ({ close: async () => {} }) as unknown as LoadClient,
    runRound: async (s: RoundSettings) => {
      // compare's own progress wrapper tags the event with the round: that is how a fake knows it.
      s.progress({ phase: 'start', message: 'starting' });
      if (round === 0) return outcome(1); // the warm-up round, not counted
      runs.push(`${round}:${s.runtime}`);
      return outcome((script[s.runtime] as (round: number) => number)(round));
    },
  };
  const result = await compareWith(
    {
      config: { services: {} },
      runtimes: Object.keys(script),
      ...options,
      onProgress: (e) => {
        if (e.phase === 'start') round = e.round;
        else events.push(e);
      },
    },
    parts,
  );
  const more = events.filter((e) => e.phase === 'more-rounds');
  return { result, runs, more, rounds: result.settings.rounds };
}

describe('the rounds a compare runs', () => {
  it('adds rounds past five while a ratio is marked, and stops once none is', async () => {
    const { result, runs, more, rounds } = await run({ process: steady, sidecar: series(SETTLES_AT_7) });
    expect(rounds).toBe(7);
    expect(result.settings).toMatchObject({ rounds: 7, minRounds: 5, maxRounds: 9 });
    // Each round ran the plan (sidecar beside process), and nothing ran after the last.
    expect(runs).toEqual(
      [1, 2, 3, 4, 5, 6, 7].flatMap((r) =>
        r % 2 === 1 ? [`${r}:sidecar`, `${r}:process`] : [`${r}:process`, `${r}:sidecar`],
      ),
    );
    expect(more.map((e) => [e.round, e.message])).toEqual([
      [5, "1 figure marked ! after 5 rounds (sidecar's warm latency p50): round 6, up to 9"],
      [6, "1 figure marked ! after 6 rounds (sidecar's warm latency p50): round 7, up to 9"],
    ]);
    const p50 = result.runtimes.find((r) => r.runtime === 'sidecar')?.metrics.find((m) => m.id === 'p50Ms');
    expect(p50?.ratio?.rounds).toHaveLength(7);
    expect(p50?.ratio?.noisy).toBe(false);
    expect(verdict(result)[1]).toBe(
      "Steady: every figure's 95% interval from its 7 rounds (2 added to the 5 asked for while figures were marked !) is within ±14.1% of it (20%/√2: another run should land within ±20%).",
    );
  });

  it('stops at the most, and says so', async () => {
    const { result, more, rounds } = await run({ process: steady, sidecar: jumpy });
    expect(rounds).toBe(9);
    expect(more.map((e) => e.round)).toEqual([5, 6, 7, 8]);
    expect(verdict(result)[1]).toMatch(/after 9 rounds, the most this run would add \(--max-rounds\)/);
    const capped = await run({ process: steady, sidecar: jumpy }, { maxRounds: 6 });
    expect([capped.rounds, capped.result.settings.minRounds]).toEqual([6, 5]);
    // A most under five without --rounds: that many rounds, not an error about a flag not given.
    const few = await run({ process: steady, sidecar: jumpy }, { maxRounds: 3 });
    expect([few.rounds, few.result.settings.minRounds, few.result.settings.maxRounds]).toEqual([3, 3, 3]);
  });

  it('runs exactly the rounds asked for with --rounds alone, and adds from two rounds on with a most', async () => {
    expect((await run({ process: steady, sidecar: jumpy }, { rounds: 3 })).rounds).toBe(3);
    // One round marks nothing: with a most above it, a second round is run before judging.
    const one = await run({ process: steady, sidecar: jumpy }, { rounds: 1, maxRounds: 4 });
    expect(one.rounds).toBe(4);
    expect(one.more.map((e) => e.round)).toEqual([2, 3]);
    await expect(run({ process: steady }, { rounds: 5, maxRounds: 3 })).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: 'compare: maxRounds (--max-rounds) must be at least rounds (--rounds), got 3 and 5',
    });
    await expect(run({ process: steady }, { maxRounds: 21 })).rejects.toMatchObject({
      code: 'MSUP_USAGE',
      message: 'compare: maxRounds must be a whole number from 1 to 20, got 21',
    });
  });

  it("adds no round for the baseline's own figures beside others, but does for a runtime alone", async () => {
    // process's own p50 jumps (the machine's drift); the sidecar's ratio to it is steady: nothing to add.
    const beside = await run({ process: jumpy, sidecar: (r) => 2 * jumpy(r) });
    expect(beside.rounds).toBe(5);
    expect(beside.more).toEqual([]);
    // Its own figure is still marked, and the verdict counts it, without advising more rounds.
    expect(verdict(beside.result)[1]).toMatch(/^1 marked ! of process's figures/);
    expect(verdict(beside.result)[1]).toMatch(
      /None of them is one more rounds would settle: process's own figures move with the machine/,
    );
    const alone = await run({ process: series(SETTLES_AT_7) });
    expect(alone.rounds).toBe(7);
  });

  it('adds no round for a runtime left out, nor for ratios once the baseline is left out', async () => {
    // The sidecar fails from round 6 on: its marked ratio gets no more rounds.
    const sidecarGone = await run({ process: steady, sidecar: failsFrom(6, jumpy) });
    expect(sidecarGone.rounds).toBe(6);
    const sidecar = sidecarGone.result.runtimes.find((r) => r.runtime === 'sidecar');
    expect(sidecar?.notes.some((n) => /^failed in round 6, left out from there/.test(n))).toBe(true);
    // Its ratio is still marked, and the verdict says no more rounds would settle it.
    expect(verdict(sidecarGone.result)[1]).toMatch(/None of them is one more rounds would settle/);
    // process fails from round 6 on: the sidecar's ratios would have no baseline beside them.
    const baseGone = await run({ process: failsFrom(6, steady), sidecar: jumpy });
    expect(baseGone.rounds).toBe(6);
    // With a third runtime still measured against it, the one with a marked ratio still gets rounds.
    const third = await run({ process: steady, sidecar: failsFrom(6, jumpy), function: jumpy });
    expect(third.rounds).toBe(9);
    // After round 5 both ratios asked (the sidecar's first); from round 6 on, the function's alone.
    expect(third.more.map((e) => e.message.replace(/ after .*/, ''))).toEqual([
      '2 figures marked !',
      '1 figure marked !',
      '1 figure marked !',
      '1 figure marked !',
    ]);
    expect(third.more.slice(1).every((e) => /\(function's /.test(e.message))).toBe(true);
    // The other runtime left out in round 1: process is then the one measured, and its own figures ask.
    const aloneSoon = await run({ process: series(SETTLES_AT_7), sidecar: failsFrom(1, steady) });
    expect(aloneSoon.rounds).toBe(7);
  });
});

describe('the figures that ask for another round', () => {
  const base = foldRounds(
    [1, 3, 1, 3, 1].map((v) => ({ p50Ms: v })),
    false,
  );
  const other = withRatios(
    foldRounds(
      [2, 2.4, 2, 2.4, 2].map((v) => ({ p50Ms: v })),
      false,
    ),
    base,
  );
  const reports = [runtimeReport('process', base), runtimeReport('sidecar', other)];

  it("are the other runtimes' marked ratios, not the baseline's own figures", () => {
    expect(unsettledFigures(reports, 'process', () => true)).toEqual([
      { runtime: 'sidecar', label: 'warm latency p50' },
    ]);
    // The sidecar left out: process is the one runtime still measured, and its own figures ask.
    expect(unsettledFigures(reports, 'process', (r) => r !== 'sidecar')).toEqual([
      { runtime: 'process', label: 'warm latency p50' },
    ]);
    expect(unsettledFigures(reports, 'process', (r) => r !== 'process')).toEqual([]);
    expect(unsettledFigures([runtimeReport('process', base)], 'process', () => true)).toEqual([
      { runtime: 'process', label: 'warm latency p50' },
    ]);
  });
});
