// A compare's figures written for people, in their unit (the terminal table and the HTML report). Pure.
import { markedFigures, ROWS, unsettledFigures } from './metrics.js';
import { BACKGROUND_MIN_PERIOD_MS, backgroundLoad, NOISE_THRESHOLD } from './stats.js';
import type { BackgroundLoad, CompareResultV3, Metric, RuntimeReport } from './types.js';

/** A figure in its unit, short. */
export function formatValue(value: number | null, unit: Metric['unit']): string {
  if (value === null) return '–';
  switch (unit) {
    case 'ms':
      return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(value >= 10 ? 1 : 2)} ms`;
    case 'req/s':
      return `${Math.round(value)} req/s`;
    case 'bytes':
      return `${(value / 1024 / 1024).toFixed(0)} MB`;
    case 's':
      return `${value.toFixed(2)} s`;
    case 'usd':
      return value === 0 ? '$0' : `$${value < 0.01 ? value.toPrecision(3) : value.toFixed(4)}`;
    case 'count':
      return String(Math.round(value));
    case 'share':
      return `${Number((value * 100).toFixed(1))}%`;
  }
}

/**
 * The `±` beside a figure or a ratio: the half-width of its 95% interval from the rounds, as a share of it
 * (the `!` mark stands on the same number, past NOISE_THRESHOLD). Empty with one round, or where there is none (counts;
 * a result written before the field existed).
 */
export function formatUncertainty(share: number | null | undefined, rounds: number): string {
  if (rounds < 2 || share === null || share === undefined) return '';
  const percent = share * 100;
  // Near the mark's 14.1%, one decimal: `±14%` beside a `!` (or `±14%` unmarked beside a mark said to be
  // at ±14%) would read as a contradiction.
  return ` ±${Math.abs(percent - NOISE_THRESHOLD * 100) < 0.5 ? percent.toFixed(1) : Math.round(percent)}%`;
}

/** A ratio to the baseline runtime's figure: `1.37×`. */
export function formatRatio(value: number | null): string {
  if (value === null) return '–';
  return `${value.toFixed(value >= 10 ? 1 : 2)}×`;
}

/** A share (0–1) as a percentage: `2.4%`. */
function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

/** Whether a row shown without a mark (figureOnly) has rounds that leave it past the mark's ±14.1%. */
function unmarkedWide(result: CompareResultV3): boolean {
  const figureOnly = new Set(ROWS.filter((row) => row.figureOnly !== undefined).map((row) => row.id));
  return result.runtimes.some(
    (r) =>
      r.status === 'ran' &&
      r.metrics.some((m) => figureOnly.has(m.id) && (m.uncertainty ?? 0) > NOISE_THRESHOLD),
  );
}

/**
 * The verdict on a result, in sentences: whether the machine was quiet (other work measured in the idle
 * periods) and how many figures their rounds leave uncertain (marked !).
 */
export function verdict(result: CompareResultV3): string[] {
  // A result saved before `background` was measured has none; one before 2026-12-06 has no `load`.
  const b = result.background ?? backgroundLoad([]);
  const load = b.load !== undefined && b.load.max !== null && b.load.share !== null ? b.load : null;
  const at = (w: BackgroundLoad['worst']) => (w ? ` in ${w.runtime}'s round ${w.round}` : '');
  const where = `while the runtimes sat idle (the mean of ${b.periods} idle period${b.periods === 1 ? '' : 's'}, the most ${percent(b.max ?? 0)}${at(b.worst)})`;
  const during = load
    ? `during their warm loads the most ${percent(load.max ?? 0)}${at(load.worst)} (the mean of ${load.periods}: ${percent(load.share ?? 0)})`
    : '';
  const over = [
    b.share !== null && b.share > b.threshold ? `over ${percent(b.threshold)} while idle` : null,
    load && (load.max ?? 0) > load.threshold ? `over ${percent(load.threshold)} in a warm load` : null,
  ].filter((x) => x !== null);
  const busy = `${over.join(' and ')}: the machine was too busy to trust the figures. Run again when it is quieter.`;
  const unread = `(${
    !result.background
      ? 'a result from before msup measured it'
      : result.settings.idleMs < BACKGROUND_MIN_PERIOD_MS
        ? `idle periods under ${BACKGROUND_MIN_PERIOD_MS / 1000} s are too short: CPU time is counted in 10 ms ticks`
        : 'no /proc here'
  })`;
  const machine =
    b.share === null
      ? load
        ? `${result.noisy ? 'Noisy' : 'The machine'}: other work used ${during}; while they sat idle it was not measured ${unread}${result.noisy ? `, ${busy}` : '.'}`
        : `The machine: its other work was not measured ${unread}.`
      : `${result.noisy ? 'Noisy' : 'Quiet'}: other work used ${percent(b.share)} of the machine's CPU ${where}${load ? `, and ${during}` : ''}${result.noisy && over.length > 0 ? `, ${busy}` : '.'}`;
  if (result.settings.rounds < 2) {
    return [
      machine,
      'One round: a quick look. Leave out --rounds (5 to 9 rounds) to see the spread, and for figures to set side by side across runs.',
    ];
  }
  const marked = markedFigures(result.runtimes).length;
  // Those that another round could settle: a ratio, or a figure without one (not the baseline's own beside
  // other runtimes, nor a runtime left out from a round on).
  const unsettled = unsettledFigures(
    result.runtimes,
    result.baseline,
    (name) => result.runtimes.find((r) => r.runtime === name)?.reason === undefined,
  ).length;
  const base = result.baseline ?? 'the baseline';
  const { rounds, minRounds = rounds, maxRounds = rounds } = result.settings;
  const added =
    rounds > minRounds
      ? ` (${rounds - minRounds} added to the ${minRounds} asked for while figures were marked !)`
      : '';
  const more =
    rounds >= maxRounds && maxRounds > minRounds
      ? `, after ${rounds} rounds, the most this run would add (--max-rounds)`
      : '';
  return [
    machine,
    marked === 0
      ? `Steady: every figure's 95% interval from its ${rounds} rounds${added} is within ±14.1% of it (20%/√2: another run should land within ±20%)${unmarkedWide(result) ? ", the slowest cold start's aside (shown without a ratio, never marked)" : ''}.`
      : `${marked} marked ! of ${base}'s figures and the other runtimes' ratios to ${base}: the 95% interval from the rounds reaches past ±14.1%${more}, so another run may land more than 20% away. ${
          unsettled > 0
            ? 'More rounds narrow it (--max-rounds).'
            : `None of them is one more rounds would settle: ${base}'s own figures move with the machine from run to run (read the ratios), and a runtime left out gets no more rounds.`
        }`,
  ];
}

/**
 * The warning for a runtime flagged `manyErrors`, or null: how many of its warm load's requests failed
 * (in which rounds), and that its figures count the successful answers only.
 */
export function errorWarning(r: RuntimeReport, threshold: number): string | null {
  if (r.manyErrors !== true) return null;
  const rounds = r.metrics.find((m) => m.id === 'errorShare')?.rounds ?? [];
  const over = rounds
    .map((share, i) => ({ share, round: i + 1 }))
    .filter((x): x is { share: number; round: number } => x.share !== null && x.share > threshold);
  const limit = formatValue(threshold, 'share');
  const which =
    rounds.length === 1 && over[0]
      ? `${formatValue(over[0].share, 'share')} of the warm load's requests failed, over ${limit}`
      : `over ${limit} of the warm load's requests failed in ${over.map((x) => `round ${x.round} (${formatValue(x.share, 'share')})`).join(', ')}`;
  return `${r.runtime}: ${which}: its latency, throughput and cost count the successful (2xx/3xx) answers only (see its notes for what the requests got)`;
}
