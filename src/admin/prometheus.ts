// /metrics as Prometheus text (format 0.0.4) through prom-client, the only file that imports it: loaded
// by the admin listener at the first scrape only (it adds about 13 MB to msup's memory). msup's families
// are kept in msup's own structures and handed over at each scrape; prom-client adds msup's own process
// metrics (CPU, memory, event loop lag, GC) and writes the text.
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import type { HistogramSample, MetricFamily, MetricSample } from '../types.js';

interface Value {
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

/** Cumulative `_bucket` samples, `_sum` and `_count`, as Prometheus writes a histogram. */
function histogramValues(name: string, h: HistogramSample): Value[] {
  const values: Value[] = [];
  let cumulative = 0;
  h.bounds.forEach((bound, i) => {
    cumulative += h.counts[i] as number;
    values.push({
      metricName: `${name}_bucket`,
      labels: { ...h.labels, le: String(bound) },
      value: cumulative,
    });
  });
  cumulative += h.counts[h.bounds.length] as number;
  values.push({ metricName: `${name}_bucket`, labels: { ...h.labels, le: '+Inf' }, value: cumulative });
  values.push({ metricName: `${name}_sum`, labels: { ...h.labels }, value: h.sum });
  values.push({ metricName: `${name}_count`, labels: { ...h.labels }, value: cumulative });
  return values;
}

/**
 * A family as a prom-client metric: its `get()` (what prom-client's own metrics return after their
 * `collect()`) reads the family handed over for this scrape. prom-client's Counter and Gauge could
 * only be reset and set again label set by label set, and its Histogram has no way to take bucket
 * counts kept elsewhere, hence this adapter.
 */
function asMetric(family: MetricFamily): Metric {
  const values = (): Value[] =>
    family.type === 'histogram'
      ? family.samples.flatMap((h) => histogramValues(family.name, h))
      : family.samples.map((s: MetricSample) => ({ labels: { ...s.labels }, value: s.value }));
  const metric = {
    name: family.name,
    help: family.help,
    type: family.type,
    aggregator: 'sum',
    get: async () => ({
      name: family.name,
      help: family.help,
      type: family.type,
      aggregator: 'sum',
      values: values(),
    }),
    reset() {},
  };
  return metric as unknown as Metric;
}

/**
 * prom-client's gauges named like counters (`nodejs_active_handles_total`...): `promtool check metrics`
 * rejects a gauge with a `_total` suffix, and the same figures are there without it, by type.
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

let processMetrics: Registry | undefined;

/** The text of one scrape: msup's own process first, then `families`. */
export async function prometheusText(
  families: readonly MetricFamily[],
): Promise<{ contentType: string; text: string }> {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
    for (const name of MISNAMED_DEFAULTS) processMetrics.removeSingleMetric(name);
  }
  const scrape = new Registry();
  for (const family of families) scrape.registerMetric(asMetric(family));
  const registry = Registry.merge([processMetrics, scrape]);
  return { contentType: registry.contentType, text: await registry.metrics() };
}
