// The rows of a compare: each figure's label, unit and kind, and the rounds of a runtime folded into one
// value per row with its spread. Pure.
import { isNoisy, median, pairwiseRatio, spread, trimmedMean, uncertainty } from './stats.js';
import type { FigureKind, Metric, MetricId, RatioFigure, RuntimeReport } from './types.js';

interface RowSpec {
  id: MetricId;
  label: string;
  unit: Metric['unit'];
  /** How the figure is obtained; `platform`: measured, but emulated when the runtime stands in for a platform. */
  kind: FigureKind | 'platform';
  /** Counts whose spread means nothing (errors, requests, the error share): never flagged as noise. */
  count?: boolean;
  /**
   * Single requests of a few milliseconds (`samples`), a handful a round: the ratio's value is taken over
   * every round's requests together (see ratioFigure).
   */
  pooled?: boolean;
  /**
   * A figure of a round's instances (the cold-start rows): the round's `samples` are every instance's, and
   * its ratio is this statistic of them over the same of the baseline's (with `pooled`, of every round's at
   * once) instead of the median of every pair.
   */
  of?: (values: readonly number[]) => number | null;
  /**
   * The baseline's row a ratio divides by, where the baseline has no figure of this row's own (a function's
   * init: a process has none, and its cold start is the same work, a Node start and the app loaded).
   */
  over?: MetricId;
  /**
   * A figure shown without a ratio, and never marked: why its ratio would not hold from one run to the
   * next (shown as the row's note).
   */
  figureOnly?: string;
  note?: string;
}

export const ROWS: readonly RowSpec[] = [
  { id: 'startToReadyMs', label: 'start → every instance ready', unit: 'ms', kind: 'measured' },
  { id: 'coldStartMs', label: 'cold start per instance (median)', unit: 'ms', kind: 'platform', of: median },
  {
    id: 'coldStartMaxMs',
    label: 'cold start per instance (max)',
    unit: 'ms',
    kind: 'platform',
    // Its ratio (the slowest of 7 environments over the slowest of 3 processes, round by round) came 36.4%
    // apart between two compares whose rounds each put it within ±9%: the machine's state moves a maximum
    // of a handful of instances from run to run more than rounds within one run show.
    figureOnly:
      'the slowest instance of each round (median over the rounds); no ratio: a maximum of a handful of instances moves from run to run more than its rounds show',
  },
  { id: 'firstRequestMs', label: 'first request after ready', unit: 'ms', kind: 'platform', pooled: true },
  {
    id: 'firstRequestInitMs',
    label: '… of which init (functions; ratio: over cold start)',
    unit: 'ms',
    kind: 'platform',
    // Alone, this value moved 27-35% between two compares in 2 of 8 kept pairs (2026-12-06): the machine's
    // speed drifts over minutes, and a figure without a ratio of the same round cannot cancel it. Over the
    // baseline's cold start of the same round, the same pairs were at most 16% apart.
    over: 'coldStartMs',
    note: "its ratio is over the baseline's cold start per instance (median) of the same round",
  },
  { id: 'firstAfterIdleMs', label: 'first request after idle', unit: 'ms', kind: 'platform', pooled: true },
  { id: 'p50Ms', label: 'warm latency p50', unit: 'ms', kind: 'measured' },
  { id: 'p95Ms', label: 'warm latency p95', unit: 'ms', kind: 'measured' },
  { id: 'p99Ms', label: 'warm latency p99', unit: 'ms', kind: 'measured' },
  {
    id: 'throughputRps',
    label: 'throughput (successful answers)',
    unit: 'req/s',
    kind: 'measured',
    note: 'successful (2xx/3xx) answers per second of the warm load',
  },
  { id: 'requestsSent', label: 'requests sent (warm load)', unit: 'count', kind: 'measured', count: true },
  { id: 'requestsAnswered', label: 'requests answered', unit: 'count', kind: 'measured', count: true },
  { id: 'errors5xx', label: 'errors: 5xx', unit: 'count', kind: 'measured', count: true },
  { id: 'errors429', label: 'errors: 429', unit: 'count', kind: 'measured', count: true },
  { id: 'errors4xx', label: 'errors: other 4xx', unit: 'count', kind: 'measured', count: true },
  { id: 'errorsConnection', label: 'errors: connection', unit: 'count', kind: 'measured', count: true },
  { id: 'errorsTimeout', label: 'errors: timeout', unit: 'count', kind: 'measured', count: true },
  {
    id: 'errorShare',
    label: 'errors: share of requests sent',
    unit: 'share',
    kind: 'measured',
    count: true,
    note: 'failed requests (an error status, or no answer) of the warm load over the requests it sent',
  },
  { id: 'rssLoadBytes', label: 'memory (RSS, all processes) under load', unit: 'bytes', kind: 'measured' },
  { id: 'rssIdleBytes', label: 'memory (RSS, all processes) after idle', unit: 'bytes', kind: 'measured' },
  { id: 'cpuSeconds', label: 'CPU seconds (warm load)', unit: 's', kind: 'measured' },
  { id: 'recoveryFailed', label: 'recovery: failed requests', unit: 'count', kind: 'measured', count: true },
  { id: 'recoveryMs', label: 'recovery: kill → replacement serves', unit: 'ms', kind: 'measured' },
  { id: 'coldStarts', label: 'cold starts (functions)', unit: 'count', kind: 'platform', count: true },
  {
    id: 'environmentsPeak',
    label: 'environments at once (functions)',
    unit: 'count',
    kind: 'platform',
    count: true,
  },
  { id: 'costPerMillionUsd', label: 'cost per million requests', unit: 'usd', kind: 'modelled' },
  { id: 'costIdleHourUsd', label: 'cost per idle hour', unit: 'usd', kind: 'modelled' },
];

/** The single requests of a round behind a row (the first-request rows; each kill's time for recovery), by row. */
export type RoundSamples = Partial<Record<MetricId, number[]>>;

/**
 * Each row's figure over the rounds: the median, the rounds, the spread and the noise flag; and the single
 * requests behind it, where a round gave them (`samples`, one entry per round).
 */
export function foldRounds(
  rounds: readonly Partial<Record<MetricId, number | null>>[],
  emulated: boolean,
  extra: Partial<Record<MetricId, { note?: string; source?: string }>> = {},
  samples: readonly RoundSamples[] = [],
): Metric[] {
  return ROWS.map((row) => {
    const values = rounds.map((r) => r[row.id] ?? null);
    const rowSamples = samples.some((s) => s[row.id] !== undefined)
      ? rounds.map((_, i) => [...(samples[i]?.[row.id] ?? [])])
      : undefined;
    const kind: FigureKind = row.kind === 'platform' ? (emulated ? 'emulated' : 'measured') : row.kind;
    const note = extra[row.id]?.note ?? row.note ?? row.figureOnly;
    const source = extra[row.id]?.source;
    return {
      id: row.id,
      label: row.label,
      unit: row.unit,
      kind,
      value: median(values),
      rounds: values,
      spread: row.count ? null : spread(values),
      uncertainty: row.count ? null : uncertainty(values),
      noisy: row.count || row.figureOnly !== undefined ? false : isNoisy(values),
      ratio: null,
      ...(rowSamples === undefined ? {} : { samples: rowSamples }),
      ...(note === undefined ? {} : { note }),
      ...(source === undefined ? {} : { source }),
    };
  });
}

/**
 * A figure over the baseline's, round by round (the same round: the two ran minutes apart at most, so a
 * change of the machine's load between rounds cancels), and one value over those ratios: their trimmed
 * mean (the middle three of five rounds). Given the single requests behind the figure (`samples` and
 * `baseSamples`, each round's), a round's ratio is the median of every request of the round over every
 * baseline request of the same round: a single request moves by a millisecond on its own, and the ratio of
 * two medians of three left two runs of a compare 20-45% apart. With `pooled` (and samples), the value is
 * that median over every request of every round with both figures at once instead of the middle rounds'
 * mean: a function gives one request after ready and four after idle a round, and the mean of three
 * rounds' ratios of a few requests each threw away two rounds of them (on 19 pairs of compares kept from
 * 2026-12-03 to 05, the root mean square of how far two runs' ratios were apart fell on all six
 * first-request rows, from 7.2 to 5.4%, 13.3 to 10.0% and 8.6 to 7.4% after idle, 9.6 to 8.3%, 9.6 to
 * 8.2% and 9.4 to 7.2% after ready).
 * The rounds' ratios, their spread and the noise flag stay round by round. Null when no round has both
 * figures (or the baseline's is 0).
 */
export function ratioFigure(
  values: readonly (number | null)[],
  baseline: readonly (number | null)[],
  samples?: readonly (readonly number[])[],
  baseSamples?: readonly (readonly number[])[],
  pooled = false,
  of?: (values: readonly number[]) => number | null,
): RatioFigure | null {
  // The ratio of two sets of samples: the statistic `of` each, or the median of every pair.
  const ofSamples = (mine: readonly number[], theirs: readonly number[]): number | null => {
    if (!of) return pairwiseRatio(mine, theirs);
    const a = of(mine);
    const b = of(theirs);
    return a === null || b === null || !(b > 0) ? null : a / b;
  };
  const rounds = values.map((v, i) => {
    const b = baseline[i];
    if (v === null || b === null || b === undefined || b === 0) return null;
    const mine = samples?.[i];
    const theirs = baseSamples?.[i];
    const ofRequests = mine && theirs ? ofSamples(mine, theirs) : null;
    return ofRequests ?? v / b;
  });
  if (rounds.every((r) => r === null)) return null;
  // Every round's requests at once, in the rounds with both figures.
  const both = (s: readonly (readonly number[])[]) =>
    rounds.flatMap((r, i) => (r === null ? [] : (s[i] ?? [])));
  const ofAll = pooled && samples && baseSamples ? ofSamples(both(samples), both(baseSamples)) : null;
  return {
    value: ofAll ?? trimmedMean(rounds),
    rounds,
    spread: spread(rounds),
    uncertainty: uncertainty(rounds),
    noisy: isNoisy(rounds),
  };
}

/** Each metric of a runtime given its ratio to the baseline runtime's metric, round by round. */
export function withRatios(metrics: readonly Metric[], baseline: readonly Metric[]): Metric[] {
  return metrics.map((m) => {
    const row = ROWS.find((r) => r.id === m.id);
    const base = baseline.find((b) => b.id === (row?.over ?? m.id));
    // A count (requests, errors, cold starts) has no ratio, nor has a figure shown alone.
    if (row?.count || row?.figureOnly !== undefined || !base) return { ...m, ratio: null };
    // Over another row, the baseline's single requests are of that row, not of this one: figure by figure.
    const baseSamples = row?.over ? undefined : base.samples;
    return {
      ...m,
      ratio: ratioFigure(m.rounds, base.rounds, m.samples, baseSamples, row?.pooled === true, row?.of),
    };
  });
}

/**
 * A runtime's metrics given their ratios to the baseline's: over the baseline's runs beside its own, round
 * by round, where the result kept them (`baselineRounds`), else over the baseline's figures of the same
 * round. What compare() does, and what `bench/compare-agreement.js --recompute` does again on a kept result.
 */
export function withPairedRatios(r: RuntimeReport, base: RuntimeReport): RuntimeReport {
  const over = r.baselineRounds
    ? foldRounds(r.baselineRounds.values, false, {}, r.baselineRounds.samples)
    : base.metrics;
  return { ...r, metrics: withRatios(r.metrics, over) };
}

/**
 * Whether a figure's own value is marked !: a figure with a ratio is judged by its ratio (marked there),
 * since its rounds move with the machine's load.
 */
export function ownMarked(m: Metric): boolean {
  return m.noisy && !m.ratio;
}

/** The figure a reader should trust for a row: its ratio where it has one, else its own rounds. */
export function figureNoisy(m: Metric): boolean {
  return m.ratio ? m.ratio.noisy : m.noisy;
}

/**
 * The figures a reader is told not to trust (marked !): of each runtime that ran, its rows judged by
 * `figureNoisy`, in the order of the runtimes and rows. The verdict counts them; compare() adds rounds
 * for the ones `unsettledFigures` picks out of them.
 */
export function markedFigures(reports: readonly RuntimeReport[]): { runtime: string; label: string }[] {
  return reports
    .filter((r) => r.status === 'ran')
    .flatMap((r) => r.metrics.filter(figureNoisy).map((m) => ({ runtime: r.runtime, label: m.label })));
}

/**
 * The figures that ask for another round of a compare: those set side by side across runs (each other
 * runtime's ratios to the baseline, and its own figures where a row has no ratio; the baseline's own
 * figures only when it is the one runtime still running, since beside others they move with the machine's
 * drift, which the ratios cancel) that are marked, of the runtimes still `running` (one left out from a
 * round on gets no more rounds), and not ratios once the baseline is not running (no new round would
 * have a baseline beside it). Pure.
 */
export function unsettledFigures(
  reports: readonly RuntimeReport[],
  baseline: string | null,
  running: (runtime: string) => boolean,
): { runtime: string; label: string }[] {
  const ran = reports.filter((r) => r.status === 'ran' && r.metrics.length > 0);
  // Alone: the one runtime still measured, whenever the others were left out.
  const alone = ran.filter((r) => running(r.runtime)).length === 1;
  return ran
    .filter((r) => running(r.runtime) && (alone || r.runtime !== baseline))
    .flatMap((r) =>
      r.metrics
        .filter((m) => (m.ratio ? m.ratio.noisy && baseline !== null && running(baseline) : ownMarked(m)))
        .map((m) => ({ runtime: r.runtime, label: m.label })),
    );
}
