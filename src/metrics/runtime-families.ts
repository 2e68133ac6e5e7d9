// Every metric family of a scrape: msup's own (families.ts), then the runtimes' own families, checked so
// that none can break the exposition, and labelled with their service and instance. Pure.
import type { HistogramSample, MetricFamily, MetricSample } from '../types.js';
import { type MetricsInput, ownFamilies } from './families.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED = new Set(['service', 'instance', 'le', 'quantile']);
/**
 * The names of msup's own process metrics (prom-client's defaults, merged into the same scrape): a runtime
 * family named like one made every scrape a 500 (the merge throws on a name registered twice).
 */
const PROCESS_PREFIXES = ['process_', 'nodejs_'];

function labelProblem(labels: Readonly<Record<string, string>>): string | undefined {
  for (const name of Object.keys(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) return `label "${name}" is not a valid label name`;
    if (RESERVED.has(name)) return `label "${name}" is msup's own`;
  }
  return undefined;
}

function histogramProblem(h: HistogramSample): string | undefined {
  if (h.counts.length !== h.bounds.length + 1) return 'a histogram needs one count per bound, plus +Inf';
  // +Inf is the exposition's own last bucket: a bound of Infinity wrote le="Infinity" beside it.
  if (!h.bounds.every(Number.isFinite)) return 'histogram bounds must be finite (+Inf is added)';
  for (let i = 1; i < h.bounds.length; i++) {
    if (!((h.bounds[i] as number) > (h.bounds[i - 1] as number))) return 'histogram bounds must increase';
  }
  return undefined;
}

/** What makes a family's name unusable, if anything. */
function nameProblem(f: MetricFamily): string | undefined {
  if (!METRIC_NAME.test(f.name)) return 'not a valid metric name';
  if (PROCESS_PREFIXES.some((p) => f.name.startsWith(p))) return "msup's process metrics use this prefix";
  // promtool: "non-counter metrics should not have "_total" suffix".
  if (f.type !== 'counter' && f.name.endsWith('_total')) return `a ${f.type} may not end in _total`;
  return undefined;
}

const keyOf = (labels: Readonly<Record<string, string>>) =>
  JSON.stringify(Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : 1)));

/**
 * Every family: msup's own, then the runtimes', each runtime sample labelled with its service and
 * instance. A runtime family that is not valid (a bad or taken name, a bad or reserved label, a
 * malformed histogram, another type under a name already seen) is left out and named in `problems`;
 * a repeated series keeps its first sample. An instance listed more than once (oldest first: the current
 * incarnation and its replacement during a rolling restart) counts once, as its last entry, the newest.
 */
export function buildFamilies(input: MetricsInput): { families: MetricFamily[]; problems: string[] } {
  const families = ownFamilies(input);
  const problems: string[] = [];
  const byName = new Map(families.map((f) => [f.name, { family: f, own: true, seen: new Set<string>() }]));
  const newest = new Map(input.runtimes.map((r) => [JSON.stringify([r.service, r.index]), r]));
  for (const { service, index, families: theirs } of newest.values()) {
    const where = `${service}#${index}`;
    for (const f of theirs) {
      const taken = byName.get(f.name);
      let problem =
        nameProblem(f) ??
        (taken?.own
          ? 'msup uses this name'
          : taken && taken.family.type !== f.type
            ? `already a ${taken.family.type}`
            : undefined);
      if (!problem) {
        for (const sample of f.samples) {
          problem =
            labelProblem(sample.labels) ??
            (f.type === 'histogram' ? histogramProblem(sample as HistogramSample) : undefined);
          if (problem) break;
        }
      }
      if (problem) {
        problems.push(`${where}: metric "${f.name}" left out: ${problem}`);
        continue;
      }
      let entry = taken;
      if (!entry) {
        const fresh = { ...f, samples: [] } as MetricFamily;
        entry = { family: fresh, own: false, seen: new Set() };
        byName.set(f.name, entry);
        families.push(fresh);
      }
      const out = entry.family.samples as (MetricSample | HistogramSample)[];
      for (const sample of f.samples) {
        const labels = { ...sample.labels, service, instance: String(index) };
        const key = keyOf(labels);
        if (entry.seen.has(key)) continue;
        entry.seen.add(key);
        out.push({ ...sample, labels });
      }
    }
  }
  return { families, problems };
}
