// `compare()`: the same config run on each runtime in turn, round after round, measured the same way, and
// folded into one versioned result. The runtimes come from the registry; one that cannot run here is
// reported as not run, with the reason. The library never prints: progress goes to `onProgress`.
import os from 'node:os';
import { checkConfigSource } from '../config/config-source.js';
import { parseDuration } from '../config/duration.js';
import { RUNTIME_NAMES } from '../config/runtime-names.js';
import { isMsupError, MsupError } from '../errors.js';
import type { Duration } from '../types.js';
import { PUBLISHED_ANCHORS, runtimeNotes } from './knowledge.js';
import { LoadClient } from './load-client.js';
import { ERROR_SHARE_THRESHOLD } from './load-figures.js';
import { foldRounds, unsettledFigures, withPairedRatios } from './metrics.js';
import { MIN_DURATION_MS, pathProblem } from './options.js';
import { type RoundOutcome, type RoundSettings, runRound } from './round.js';
import {
  addHistograms,
  backgroundLoad,
  type IdlePeriod,
  LATENCY_BUCKETS_MS,
  LOAD_BACKGROUND_THRESHOLD,
  machineNoisy,
} from './stats.js';
import type { CompareOptions, CompareResultV3, MachineInfo, MetricId, RuntimeReport } from './types.js';

export const COMPARE_DEFAULTS = {
  requests: 8000,
  concurrency: 8,
  duration: '30s',
  rounds: 5,
  maxRounds: 9,
  idle: '3s',
  startTimeout: '120s',
} as const;

/** Errors that mean "this runtime cannot run on this machine", not "it failed". */
const CANNOT_RUN = new Set(['MSUP_NO_CONTAINER_ENGINE']);

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: process.platform,
    release: os.release(),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

function whole(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new MsupError(
      'MSUP_USAGE',
      `compare: ${name} must be a whole number from ${min} to ${max}, got ${n}`,
    );
  }
  return n;
}

function ms(name: string, value: Duration | undefined, fallback: string, min = 0): number {
  const parsed = parseDuration(value ?? fallback);
  if (parsed === undefined) {
    throw new MsupError(
      'MSUP_USAGE',
      `compare: ${name} must be a duration such as '30s', got ${String(value)}`,
    );
  }
  if (parsed < min) {
    throw new MsupError(
      'MSUP_USAGE',
      `compare: ${name} must be at least ${min / 1000}s, got ${String(value)} (${parsed} ms)`,
    );
  }
  return parsed;
}

/** The load's URL path, when one is asked for: checked (see pathProblem). */
function loadPath(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const problem = pathProblem(path);
  if (problem !== null) {
    throw new MsupError('MSUP_USAGE', `compare: path ${JSON.stringify(path)}: ${problem}`);
  }
  return path;
}

/** The runtimes to compare: the ones asked for (each checked against the registry), else all of them. */
export function chooseRuntimes(asked: readonly string[] | undefined): string[] {
  if (asked === undefined || asked.length === 0) return [...RUNTIME_NAMES];
  for (const name of asked) {
    if (!(RUNTIME_NAMES as readonly string[]).includes(name)) {
      throw new MsupError(
        'MSUP_USAGE',
        `compare: unknown runtime "${name}"; msup has ${RUNTIME_NAMES.join(', ')}`,
      );
    }
  }
  return [...new Set(asked)];
}

/** What a compare runs: a round of one runtime, and the load generator. Tests give fakes of both. */
export interface CompareParts {
  runRound: (s: RoundSettings) => Promise<RoundOutcome>;
  openLoad: () => Promise<LoadClient>;
}

const REAL_PARTS: CompareParts = { runRound, openLoad: () => LoadClient.open() };

export function compare(options: CompareOptions = {}): Promise<CompareResultV3> {
  return compareWith(options, REAL_PARTS);
}

/** compare() with the parts given: the rounds' plan, pairing and folding without processes. */
export async function compareWith(options: CompareOptions, parts: CompareParts): Promise<CompareResultV3> {
  checkConfigSource(options);
  const runtimes = chooseRuntimes(options.runtimes);
  const requests = whole('requests', options.requests, COMPARE_DEFAULTS.requests, 1, 1_000_000);
  const concurrency = whole('concurrency', options.concurrency, COMPARE_DEFAULTS.concurrency, 1, 1000);
  const maxAsked =
    options.maxRounds === undefined ? undefined : whole('maxRounds', options.maxRounds, 0, 1, 20);
  // Without --rounds: five (fewer when the most asked for is below), then more while figures are marked.
  const rounds = whole(
    'rounds',
    options.rounds,
    Math.min(COMPARE_DEFAULTS.rounds, maxAsked ?? COMPARE_DEFAULTS.rounds),
    1,
    20,
  );
  // Rounds given and no most: exactly those rounds.
  const maxRounds = maxAsked ?? (options.rounds === undefined ? COMPARE_DEFAULTS.maxRounds : rounds);
  if (maxRounds < rounds) {
    throw new MsupError(
      'MSUP_USAGE',
      `compare: maxRounds (--max-rounds) must be at least rounds (--rounds), got ${maxRounds} and ${rounds}`,
    );
  }
  const durationMs = ms('duration', options.duration, COMPARE_DEFAULTS.duration, MIN_DURATION_MS);
  const path = loadPath(options.path);
  const idleMs = ms('idle', options.idle, COMPARE_DEFAULTS.idle);
  const startTimeoutMs = ms('startTimeout', options.startTimeout, COMPARE_DEFAULTS.startTimeout);
  const cwd = options.cwd ?? process.cwd();
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const outcomes = new Map<string, RoundOutcome[]>(runtimes.map((r) => [r, []]));
  const periods: IdlePeriod[] = [];
  /** Other work during each warm load (the same shape as the idle periods'). */
  const loadPeriods: IdlePeriod[] = [];
  /** Per runtime, round by round as its outcomes: the baseline's run beside it (its ratios' denominator). */
  const pairs = new Map<string, (RoundOutcome | undefined)[]>(runtimes.map((r) => [r, []]));
  const skipped = new Map<string, Skipped>();
  const planned = plannedBaseline(runtimes);
  const load = await parts.openLoad();
  const settings = {
    cwd,
    ...(options.configFile === undefined ? {} : { configFile: options.configFile }),
    ...(options.config === undefined ? {} : { config: options.config }),
    requests,
    concurrency,
    durationMs,
    startTimeoutMs,
    load,
    ...(path === undefined ? {} : { path }),
  };
  let roundsRun = 0;
  /** Every runtime's rounds so far folded into its report, with its ratios over the baseline. */
  const fold = () => {
    const folded = runtimes.map((runtime) =>
      report(runtime, outcomes.get(runtime) ?? [], skipped.get(runtime)),
    );
    const baseline = chooseBaseline(folded);
    const base = folded.find((r) => r.runtime === baseline);
    // Each runtime's ratios over the baseline's run beside it in each round, when the baseline is the one the
    // rounds were planned around; else (it failed from the first round) over the chosen one's in the same round.
    const reports = folded.map((r) => {
      if (!base || r === base) return r;
      const near = baseline === planned ? (pairs.get(r.runtime) ?? []) : [];
      const paired: RuntimeReport =
        near.length === 0
          ? r
          : {
              ...r,
              baselineRounds: {
                values: near.map((o) => o?.values ?? {}),
                samples: near.map((o) => o?.samples ?? {}),
              },
            };
      return withPairedRatios(paired, base);
    });
    return { reports, baseline };
  };
  try {
    // A round that is not counted: the first round of a compare measured its first
    // runtime with msup's own process (its front, its sampling) and the load generator not yet compiled
    // hot by V8: twice the CPU and 2-3x the p50 of the rounds after, on every run (a longer warm-up of
    // 500 requests did not remove it). Its outcome and its failures are left out: the counted rounds
    // report them.
    // Of the baseline (the rounds are planned around it, so it is the one most sure to run), not of the
    // first run of round 1: the round warms up msup and the load generator, which every runtime shares.
    const first = planned ?? (runtimes[0] as string);
    options.onProgress?.({
      runtime: first,
      round: 0,
      rounds,
      maxRounds,
      phase: 'warm-up',
      message: 'a round not counted, to warm up msup and the load generator',
    });
    await parts.runRound({ ...settings, runtime: first, idleMs: 0, progress: () => {} }).catch(() => {});
    for (let round = 1; round <= maxRounds; round++) {
      roundsRun = round;
      const plan = roundPlan(runtimes, round, planned);
      // Each slot's outcome this round (undefined: left out or failed), to pair each runtime with the
      // baseline's run beside it.
      const got: (RoundOutcome | undefined)[] = [];
      for (const runtime of plan) {
        if (skipped.has(runtime)) {
          got.push(undefined);
          continue;
        }
        const progress = (e: Parameters<Parameters<typeof runRound>[0]['progress']>[0]) =>
          options.onProgress?.({ ...e, runtime, round, rounds, maxRounds });
        try {
          const outcome = await parts.runRound({ ...settings, runtime, idleMs, progress });
          got.push(outcome);
          // The baseline's first run of the round is its figure; a second one is there to be beside
          // another runtime (that one's ratio's denominator), not counted twice. Its idle and load periods
          // are the machine's, and count.
          if (runtime !== planned || !got.slice(0, -1).some((o, i) => o && plan[i] === planned)) {
            outcomes.get(runtime)?.push(outcome);
          }
          for (const share of outcome.background) periods.push({ runtime, round, share });
          loadPeriods.push({ runtime, round, share: outcome.loadBackground });
          progress({ phase: 'done', message: 'done' });
        } catch (error) {
          got.push(undefined);
          // A config error or a target that cannot be loaded is the same for every runtime, and without its
          // load generator the compare measures nothing more: stop here.
          if (
            isMsupError(error) &&
            /^MSUP_(CONFIG_|NOTHING_TO_COMPARE|ALREADY_RUNNING|PORT_IN_USE|LOADGEN_ENDED)/.test(error.code)
          ) {
            throw error;
          }
          const code = isMsupError(error) ? error.code : undefined;
          const status = code !== undefined && CANNOT_RUN.has(code) ? 'not-run' : 'failed';
          const reason = (error as Error).message;
          skipped.set(runtime, { status, reason, round, ...(code === undefined ? {} : { code }) });
          progress({
            phase: 'not-run',
            message: `${status === 'not-run' ? 'not run' : 'failed'}: ${reason}`,
          });
        }
      }
      for (const [runtime, near] of pairWithBaseline(plan, got, planned)) {
        pairs.get(runtime)?.push(near);
      }
      // Past the rounds asked for (and two: one round marks nothing), another round while a figure that
      // another round can narrow is marked !, up to maxRounds.
      if (round < Math.max(rounds, 2) || round >= maxRounds) continue;
      const now = fold();
      const marked = unsettledFigures(now.reports, now.baseline, (r) => !skipped.has(r));
      if (marked.length === 0) break;
      const first = marked[0] as { runtime: string; label: string };
      options.onProgress?.({
        runtime: first.runtime,
        round,
        rounds,
        maxRounds,
        phase: 'more-rounds',
        message: `${marked.length} figure${marked.length === 1 ? '' : 's'} marked ! after ${round} rounds (${first.runtime}'s ${first.label}${marked.length > 1 ? ', ...' : ''}): round ${round + 1}, up to ${maxRounds}`,
      });
    }
  } finally {
    await load.close();
  }
  const { reports, baseline } = fold();
  const target = [...outcomes.values()].flat()[0]?.target;
  const background = {
    ...backgroundLoad(periods),
    load: backgroundLoad(loadPeriods, LOAD_BACKGROUND_THRESHOLD),
  };
  return {
    version: 3,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    settings: {
      requests,
      concurrency,
      durationMs,
      rounds: roundsRun,
      minRounds: rounds,
      maxRounds,
      idleMs,
      target: target ? { path: target.path, service: target.service } : null,
    },
    latencyBucketsMs: LATENCY_BUCKETS_MS.map((b) => (Number.isFinite(b) ? b : null)),
    baseline,
    errorShareThreshold: ERROR_SHARE_THRESHOLD,
    runtimes: reports,
    published: PUBLISHED_ANCHORS.map((a) => ({ ...a, kind: 'published' as const })),
    background,
    noisy: machineNoisy(background),
  };
}

/**
 * The order of the runtimes in a round: as asked in odd rounds, reversed in even ones (A B B A), so that a
 * load on the machine that rises or falls steadily over two rounds weighs on every runtime alike, and no
 * runtime is always the first after the compare's own start. (Without a baseline to plan around; see
 * roundPlan.)
 */
export function roundOrder(runtimes: readonly string[], round: number): string[] {
  return round % 2 === 1 ? [...runtimes] : [...runtimes].reverse();
}

/** The runtime the rounds are planned around: process when asked for, else the first asked (chooseBaseline's pick if it runs). */
export function plannedBaseline(runtimes: readonly string[]): string | null {
  return runtimes.includes('process') ? 'process' : (runtimes[0] ?? null);
}

/**
 * The runs of a round: the baseline beside every other runtime, the others two by two around a run of the
 * baseline (x1 B x2, x3 B x4, ...: process, container, function, sidecar becomes container process
 * function sidecar process), with one other runtime x1 B; reversed in even rounds (A B B A), as roundOrder.
 * Each runtime's ratio is taken over the baseline's run beside it (pairWithBaseline). The machine's speed
 * drifts over minutes: over 50 kept rounds, two runtimes' per-round deviations (CPU seconds) correlated
 * +0.42 when their runs were side by side, +0.18 two runs apart, about 0 three or more apart; in the order
 * process, container, function, sidecar the sidecar was three runs from process in every round, and its
 * ratio cancelled none of the drift. The price: a second run of the baseline in a round of three or four
 * other runtimes.
 */
export function roundPlan(runtimes: readonly string[], round: number, baseline: string | null): string[] {
  const others = runtimes.filter((r) => r !== baseline);
  if (baseline === null || others.length === runtimes.length || others.length === 0) {
    return roundOrder(runtimes, round);
  }
  const plan: string[] = [];
  for (let i = 0; i < others.length; i += 2) {
    plan.push(others[i] as string, baseline);
    if (i + 1 < others.length) plan.push(others[i + 1] as string);
  }
  return round % 2 === 1 ? plan : plan.reverse();
}

/**
 * Each other runtime of a round that ran (an outcome in its slot of `got`) with the baseline's outcome beside
 * it in the plan (before or after); where that run failed, the baseline's first of the round; else
 * undefined (no ratio that round). Pure.
 */
export function pairWithBaseline<T>(
  plan: readonly string[],
  got: readonly (T | undefined)[],
  baseline: string | null,
): Map<string, T | undefined> {
  const pairs = new Map<string, T | undefined>();
  const firstOfBaseline = got.find((o, i) => o !== undefined && plan[i] === baseline);
  plan.forEach((runtime, i) => {
    if (runtime === baseline || got[i] === undefined) return;
    const beside = [i - 1, i + 1].find((j) => plan[j] === baseline && got[j] !== undefined);
    pairs.set(runtime, beside === undefined ? firstOfBaseline : got[beside]);
  });
  return pairs;
}

/** The runtime the others are divided by: process when it ran, else the first that ran. */
export function chooseBaseline(reports: readonly RuntimeReport[]): string | null {
  const ran = reports.filter((r) => r.status === 'ran' && r.metrics.length > 0);
  return (ran.find((r) => r.runtime === 'process') ?? ran[0])?.runtime ?? null;
}

/** A runtime left out from a round on: why, and the round. */
interface Skipped {
  status: 'not-run' | 'failed';
  reason: string;
  round: number;
  code?: string;
}

function report(
  runtime: string,
  outcomes: readonly RoundOutcome[],
  skipped: Skipped | undefined,
): RuntimeReport {
  const notes = runtimeNotes(runtime);
  const last = outcomes.at(-1);
  const extra: Partial<Record<MetricId, { note?: string; source?: string }>> = {};
  if (last?.cost) {
    extra.costPerMillionUsd = { note: last.cost.basis, source: last.cost.source };
    extra.costIdleHourUsd = { source: last.cost.source };
  }
  if (last && !last.onDemand) {
    extra.coldStartMs = { note: 'launch → ready of each instance of the loaded service' };
  } else if (last) {
    extra.coldStartMs = { note: 'init of each environment started (spawn → handler loaded or port ready)' };
  }
  const emulated = outcomes.some((o) => o.onDemand) || notes.emulates !== null;
  return {
    runtime,
    status: skipped && outcomes.length === 0 ? skipped.status : 'ran',
    ...(skipped ? { reason: skipped.reason } : {}),
    ...(skipped?.code ? { code: skipped.code } : {}),
    emulates: notes.emulates,
    manyErrors: outcomes.some((o) => (o.values.errorShare ?? 0) > ERROR_SHARE_THRESHOLD),
    metrics:
      outcomes.length === 0
        ? []
        : foldRounds(
            outcomes.map((o) => o.values),
            emulated,
            extra,
            outcomes.map((o) => o.samples),
          ),
    latencyHistogram: outcomes.reduce<number[]>(
      (sum, o) => addHistograms(sum, o.histogram),
      LATENCY_BUCKETS_MS.map(() => 0),
    ),
    memory: last?.memory ?? [],
    isolation: notes.isolation,
    exportLoses: notes.exportLoses,
    notes: [
      ...(skipped && outcomes.length > 0
        ? [
            `${skipped.status === 'not-run' ? 'not run' : 'failed'} in round ${skipped.round}, left out from there: ${skipped.reason}; its figures are of the ${outcomes.length} round(s) before`,
          ]
        : []),
      ...new Set(outcomes.flatMap((o) => o.notes)),
    ],
  };
}

/** A runtime did not run every round: it failed, or ran some rounds and then failed (its `reason`). */
export function fellShort(r: RuntimeReport): boolean {
  return r.status === 'failed' || (r.status === 'ran' && r.reason !== undefined);
}
