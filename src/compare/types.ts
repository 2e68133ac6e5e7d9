// What `msup compare` and `compare()` take and report: the options, the progress events, and the versioned
// result (CompareResultV3) that --json prints and the HTML report draws. Types only.
import type { Duration, MsupConfig } from '../types.js';

export interface CompareOptions {
  /** The config file, relative to `cwd` (default: supervisor.config.* in `cwd`). */
  configFile?: string;
  /** A config object instead of a file; `cwd` is its project folder. */
  config?: MsupConfig;
  cwd?: string;
  /** The runtimes to compare, in order (default: every runtime msup has). */
  runtimes?: readonly string[];
  /** Requests of the warm load, at most (default 8000). */
  requests?: number;
  /** Clients sending at once (default 8). */
  concurrency?: number;
  /** Time limit of each load (default '30s', at least '1s'). */
  duration?: Duration;
  /**
   * Rounds: every runtime once per round, in turn, the baseline beside each other one (twice a round with
   * three or four others; see roundPlan) (default 5).
   */
  rounds?: number;
  /**
   * The most rounds: past `rounds`, another round is run while a ratio to the baseline (or a figure without
   * one) is marked noisy (its 95% interval from the rounds reaches past ±14.1%, 20%/√2: NOISE_THRESHOLD in stats.ts), until none is or this many
   * have run (see unsettledFigures). Default: 9 when `rounds` is
   * not given, else `rounds` (exactly the rounds asked for). At least `rounds`, at most 20.
   */
  maxRounds?: number;
  /**
   * The URL path (with a query, if any) the load requests (default: `/`, or the first route's path when
   * the shared front has no route for `/`). It starts with `/`, and a URL parser sends it as written (no `#`, `..`, `%2e%2e`, `\\`, ...).
   * With a shared front, the service is the one its routes send this path to.
   */
  path?: string;
  /** The idle period before the after-idle memory and first request (default '3s'). */
  idle?: Duration;
  /** How long each runtime may take to get every instance ready (default '120s': a first image build). */
  startTimeout?: Duration;
  /** Called with each phase and with the load's progress; the library never prints. */
  onProgress?: (event: CompareProgress) => void;
}

export type ComparePhase =
  | 'start'
  | 'first-request'
  | 'warm-up'
  | 'load'
  | 'recovery'
  | 'idle'
  | 'stop'
  | 'done'
  | 'not-run'
  | 'more-rounds';

export interface CompareProgress {
  runtime: string;
  /**
   * The round, from 1; 0 for the round that is not counted, which warms up msup and the load generator
   * before round 1 (one `warm-up` event says so; its phases are not reported).
   */
  round: number;
  /** The rounds asked for; past them (`more-rounds`), rounds are added up to `maxRounds`. */
  rounds: number;
  maxRounds: number;
  phase: ComparePhase;
  message: string;
  /** During a load: requests finished, and the most there will be. */
  done?: number;
  total?: number;
}

/** How a figure was obtained. */
export type FigureKind = 'measured' | 'emulated' | 'modelled' | 'published';

export type MetricId =
  | 'startToReadyMs'
  | 'coldStartMs'
  | 'coldStartMaxMs'
  | 'firstRequestMs'
  | 'firstRequestInitMs'
  | 'firstAfterIdleMs'
  | 'p50Ms'
  | 'p95Ms'
  | 'p99Ms'
  | 'throughputRps'
  | 'requestsSent'
  | 'requestsAnswered'
  | 'errors5xx'
  | 'errors429'
  | 'errors4xx'
  | 'errorsConnection'
  | 'errorsTimeout'
  | 'errorShare'
  | 'rssLoadBytes'
  | 'rssIdleBytes'
  | 'cpuSeconds'
  | 'recoveryFailed'
  | 'recoveryMs'
  | 'coldStarts'
  | 'environmentsPeak'
  | 'costPerMillionUsd'
  | 'costIdleHourUsd';

export interface Metric {
  id: MetricId;
  label: string;
  /** `share`: a fraction from 0 to 1. */
  unit: 'ms' | 'req/s' | 'bytes' | 's' | 'count' | 'usd' | 'share';
  kind: FigureKind;
  /** The median over the rounds, or null (not applicable, or not obtained). */
  value: number | null;
  /** Each round's value. */
  rounds: (number | null)[];
  /** (max − min) / median over the rounds; null with one round. */
  spread: number | null;
  /**
   * The half-width of the figure's 95% interval from its rounds, as a share of it (`uncertainty` in
   * stats.ts): the `±` shown beside the figure. Unlike the spread it narrows as rounds are added, so it
   * compares across runs of different rounds. Null with one round, and for counts.
   */
  uncertainty: number | null;
  /**
   * The figure's 95% interval from its rounds reaches more than 14.1% (20%/√2) from it (`uncertainty` in stats.ts:
   * Student's t times a robust standard error): another run may land more than 20% away. Never with one round.
   */
  noisy: boolean;
  /**
   * This runtime's figure over the baseline runtime's (`CompareResultV3.baseline`) taken in each round, over
   * the baseline's run beside it (`RuntimeReport.baselineRounds`), and their trimmed mean: drift of the
   * machine's load between rounds cancels (the first-request rows: the
   * median of every request of every round over every one of the baseline's). Null for the baseline
   * itself, for counts, and where the baseline has no figure (or 0).
   */
  ratio: RatioFigure | null;
  /**
   * The single requests behind a first-request row, round by round (one per instance probed, or for a
   * function one, each idle period), or each kill's time of the recovery row: a round's ratio is taken
   * over all of them. The cold-start rows: every instance's (or environment's) cold start of the round,
   * their median or max being the round's figure. Absent for other rows.
   */
  samples?: number[][];
  note?: string;
  source?: string;
}

/** A figure divided by the baseline's in the same round: the rounds, one value over them, their spread. */
export interface RatioFigure {
  /**
   * The mean of the rounds' ratios without the lowest and highest quarter (the median of three rounds,
   * the mean of the middle three of five).
   */
  value: number | null;
  /**
   * Each round's ratio: its figure over the baseline's, or for a row with `samples`, the median of every
   * sample of the round over every baseline sample of the same round (the cold-start rows: the median or
   * max of the round's samples over the same of the baseline's, as their figures).
   */
  rounds: (number | null)[];
  /** (max − min) / median over the rounds' ratios; null with fewer than two. */
  spread: number | null;
  /** The half-width of the rounds' ratios' 95% interval, as a share (as `Metric.uncertainty`); the `±` shown. */
  uncertainty: number | null;
  /** The 95% interval of the rounds' ratios reaches more than 14.1% from their median (as `Metric.noisy`). */
  noisy: boolean;
}

export interface MemorySample {
  /** Milliseconds since the round started. */
  tMs: number;
  rssBytes: number;
  phase: ComparePhase;
}

export interface RuntimeReport {
  runtime: string;
  /**
   * `ran`; `not-run` (it cannot run on this machine: no container engine...); `failed` (it did not start,
   * or its warm load got no successful answer: `MSUP_LOAD_FAILED`).
   */
  status: 'ran' | 'not-run' | 'failed';
  /**
   * Why it did not run, with the error's code; with `ran`, why it was left out from a later round on (its
   * figures are of the rounds before, and a note says so).
   */
  reason?: string;
  code?: string;
  /** The platform it stands in for, when it emulates one. */
  emulates: string | null;
  metrics: Metric[];
  /**
   * More than `CompareResultV3.errorShareThreshold` of the requests of a round's warm load failed (an
   * error status, no answer): its latency, throughput and cost count only its successful answers.
   */
  manyErrors: boolean;
  /** Successful latencies of every round's warm load, per bucket of `latencyBucketsMs`. */
  latencyHistogram: number[];
  /** The footprint over the last round. */
  memory: MemorySample[];
  /**
   * The baseline's run beside this runtime's in each round (see `ratio`), one entry per entry of each
   * metric's `rounds`: its figures and its single requests (as `Metric.samples`, by row), the
   * denominators of this runtime's ratios. Absent for the baseline, and where the ratios are over the
   * baseline's figures of the same round (results from before 2026-12-06; a baseline that failed).
   */
  baselineRounds?: {
    values: Partial<Record<MetricId, number | null>>[];
    samples: Partial<Record<MetricId, number[]>>[];
  };
  isolation: string;
  exportLoses: string;
  notes: string[];
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
  release: string;
  loadAverage: number[];
}

export interface CompareResultV3 {
  version: 3;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  settings: {
    requests: number;
    concurrency: number;
    durationMs: number;
    /** The rounds run (each row's `rounds` has one entry per round). */
    rounds: number;
    /**
     * The rounds asked for, and the most: rounds past `minRounds` were added while a figure was marked
     * noisy. Absent in results from before 2026-12-06 (seventh session), which ran exactly `rounds`.
     */
    minRounds?: number;
    maxRounds?: number;
    idleMs: number;
    /** Where the load went: the URL path, and the service that answers it. */
    target: { path: string; service: string } | null;
  };
  latencyBucketsMs: (number | null)[];
  /** The runtime the others' ratios are taken against: process when it ran, else the first that ran. */
  baseline: string | null;
  /** Over this share of failed requests in a round's warm load, a runtime is flagged (`manyErrors`). */
  errorShareThreshold: number;
  runtimes: RuntimeReport[];
  published: {
    metric: MetricId | string;
    runtime: string;
    text: string;
    source: string;
    kind: 'published';
  }[];
  /**
   * How busy the machine was with other work while the runtimes sat idle (their idle periods), and during
   * their warm loads (`load`: compare() always sets it; optional because a version 3 result saved before
   * 2026-12-06, read back, has none).
   */
  background: BackgroundLoad & { load?: BackgroundLoad };
  /**
   * The machine was too busy to trust the figures: other work used more than `background.threshold` of its
   * CPU on average over the idle periods, or more than `background.load.threshold` in one warm load (its
   * worst, `background.load.max`). (A figure of its own is marked by its `noisy`.)
   */
  noisy: boolean;
}

/**
 * Other work on the machine, measured in each idle period of each round (in `load`: each warm load): the
 * machine's CPU less the compare's own.
 */
export interface BackgroundLoad {
  /** The mean share (0–1) of the machine's CPU that other processes used; null where it was not read. */
  share: number | null;
  /** The largest share of one period, and where it was. */
  max: number | null;
  worst: { runtime: string; round: number } | null;
  /** Periods measured. */
  periods: number;
  /** Over this share (idle periods: the mean; warm loads: the worst), the run is called noisy. */
  threshold: number;
}
