// `msup compare` for people: the machine, a table of every row by runtime with its label, the rounds and
// their spread, each runtime's ratio to the baseline taken round by round, the runtimes that did not run, and the published anchors. Pure.
import { errorWarning, formatRatio, formatUncertainty, formatValue, verdict } from '../compare/format.js';
import { ERROR_SHARE_THRESHOLD } from '../compare/load-figures.js';
import { ownMarked } from '../compare/metrics.js';
import type { CompareResultV3, Metric, RuntimeReport } from '../compare/types.js';

/** A row's figure for one runtime; its error share marked ⚠ when the runtime is flagged `manyErrors`. */
function cell(metric: Metric | undefined, rounds: number, flagged = false): string {
  if (!metric) return '';
  const main = `${formatValue(metric.value, metric.unit)}${flagged && metric.id === 'errorShare' ? ' ⚠' : ''}`;
  return `${main}${formatUncertainty(metric.uncertainty, rounds)}${rounds > 1 && ownMarked(metric) ? ' !' : ''}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatCompare(result: CompareResultV3): string {
  const m = result.machine;
  const s = result.settings;
  const ran = result.runtimes.filter((r) => r.status === 'ran');
  const lines: string[] = [
    `machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 1024 ** 3).toFixed(1)} GiB, Node ${m.node}, ${m.platform} ${m.release}, load ${m.loadAverage.join(' ')}`,
    `load: ${s.requests} requests at concurrency ${s.concurrency} (time limit ${s.durationMs / 1000} s), ${s.rounds} round(s), idle ${s.idleMs / 1000} s${s.target ? `, GET ${s.target.path} (${s.target.service})` : ''}`,
    '',
  ];
  const first = ran[0];
  if (first) {
    const header = ['', 'kind', ...ran.map((r) => r.runtime)];
    const body = first.metrics.map((metric) => [
      metric.label,
      kindOf(metric.id, ran),
      ...ran.map((r) =>
        cell(
          r.metrics.find((x) => x.id === metric.id),
          s.rounds,
          r.manyErrors === true,
        ),
      ),
    ]);
    lines.push(table([header, ...body]), '');
    // A result from before version 3 has no threshold.
    const threshold = result.errorShareThreshold ?? ERROR_SHARE_THRESHOLD;
    const warnings = ran.flatMap((r) => errorWarning(r, threshold) ?? []);
    if (warnings.length > 0) lines.push(...warnings.map((w) => `⚠ ${w}`), '');
    const others = ran.filter((r) => r.runtime !== result.baseline);
    if (result.baseline && others.length > 0) {
      const ratioRows = first.metrics
        .filter((metric) => others.some((r) => r.metrics.find((x) => x.id === metric.id)?.ratio))
        .map((metric) => [
          metric.label,
          ...others.map((r) =>
            ratioCell(
              r.metrics.find((x) => x.id === metric.id),
              s.rounds,
            ),
          ),
        ]);
      lines.push(
        `over ${result.baseline}, round by round (a change of the machine's load between rounds cancels; the mean of the middle rounds' ratios; a round's ratio of first requests and of recovery: the median of each request (kill) over each of ${result.baseline}'s; first requests: over the requests of every round at once):`,
        table([['', ...others.map((r) => r.runtime)], ...ratioRows]),
        '',
      );
    }
    if (s.rounds > 1) {
      lines.push(
        'per round (figures: the median shown above; ratios: the mean of the middle rounds, first requests over every round at once; ±: the half-width of the 95% interval from the rounds; !: it reaches past ±14.1%, so another run may land more than 20% away):',
      );
      for (const r of ran) {
        for (const metric of r.metrics.filter((x) => x.spread !== null)) {
          const q = metric.ratio;
          lines.push(
            `  ${r.runtime} ${metric.label}: ${metric.rounds.map((v) => formatValue(v, metric.unit)).join(', ')}${ownMarked(metric) ? '  (noisy)' : ''}${q ? `; over ${result.baseline}: ${q.rounds.map(formatRatio).join(', ')}${q.noisy ? '  (noisy)' : ''}` : ''}`,
          );
        }
      }
      lines.push('');
    }
  }
  for (const r of result.runtimes.filter((x) => x.status !== 'ran')) {
    lines.push(`${r.runtime}: ${r.status === 'not-run' ? 'not run' : 'failed'}: ${r.reason ?? ''}`);
  }
  for (const r of result.runtimes) lines.push(...describe(r));
  lines.push('', 'published (other hardware, not measured here):');
  for (const p of result.published) lines.push(`  [published] ${p.runtime}: ${p.text} (${p.source})`);
  const costs = ran.flatMap((r) =>
    r.metrics.filter((x) => x.id === 'costPerMillionUsd' && x.source).map((c) => ({ runtime: r.runtime, c })),
  );
  if (costs.length > 0) {
    lines.push('', 'cost is modelled at list prices:');
    for (const { runtime, c } of costs) lines.push(`  ${runtime}: ${c.note ?? ''}; prices: ${c.source}`);
  }
  lines.push('', ...verdict(result));
  return `${lines.join('\n')}\n`;
}

function ratioCell(metric: Metric | undefined, rounds: number): string {
  const q = metric?.ratio;
  if (!q) return '';
  const main = formatRatio(q.value);
  return `${main}${formatUncertainty(q.uncertainty, rounds)}${rounds > 1 && q.noisy ? ' !' : ''}`;
}

/** The kind of a row over the runtimes: one word when they agree, else each runtime's. */
function kindOf(id: string, ran: readonly RuntimeReport[]): string {
  const kinds = [...new Set(ran.map((r) => r.metrics.find((x) => x.id === id)?.kind))];
  return kinds.length === 1 ? (kinds[0] ?? '') : kinds.join('/');
}

function describe(r: RuntimeReport): string[] {
  return [
    '',
    `${r.runtime}${r.emulates ? ` (emulates ${r.emulates})` : ''}:`,
    `  isolation: ${r.isolation}`,
    `  export loses: ${r.exportLoses}`,
    ...r.notes.map((n) => `  note: ${n}`),
  ];
}
