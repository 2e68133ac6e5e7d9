// The sidecars' golden metrics as msup reports them: a summary per route for `msup status --json`
// (an instance's details), and Prometheus text for every sidecar of a run. Pure.
import {
  type GoldenSummary,
  LATENCY_BUCKETS_MS,
  type SeriesSnapshot,
  summarize,
} from '../../sidecar/metrics.js';

export interface SidecarMetrics {
  /** Requests the instance served, by route (`/users`). */
  inbound: Record<string, GoldenSummary>;
  /** Calls the instance made, by peer service, then by route. */
  outbound: Record<string, Record<string, GoldenSummary>>;
}

export function summarizeSeries(series: readonly SeriesSnapshot[]): SidecarMetrics {
  const metrics: SidecarMetrics = { inbound: {}, outbound: {} };
  for (const s of series) {
    if (s.direction === 'inbound') metrics.inbound[s.route] = summarize(s);
    else {
      const peer = metrics.outbound[s.peer] ?? {};
      peer[s.route] = summarize(s);
      metrics.outbound[s.peer] = peer;
    }
  }
  return metrics;
}

const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;
}

/** Seconds as Prometheus writes bucket bounds. */
const seconds = (ms: number) => String(ms / 1000);

/**
 * Prometheus text exposition (version 0.0.4) of the sidecars' series: a counter of requests by outcome
 * and a latency histogram, labelled by service, instance, direction, peer and route.
 */
export function prometheusText(
  instances: readonly { service: string; index: number; series: readonly SeriesSnapshot[] }[],
): string {
  const requests: string[] = [
    '# HELP msup_sidecar_requests_total Requests through a sidecar, by direction, peer, route and outcome (success: answered below 500).',
    '# TYPE msup_sidecar_requests_total counter',
  ];
  const retries: string[] = [
    '# HELP msup_sidecar_retries_total Tries after the first of calls to other services.',
    '# TYPE msup_sidecar_retries_total counter',
  ];
  const latency: string[] = [
    '# HELP msup_sidecar_request_duration_seconds Time from a request reaching a sidecar to the end of its response.',
    '# TYPE msup_sidecar_request_duration_seconds histogram',
  ];
  for (const { service, index, series } of instances) {
    for (const s of series) {
      const base = { service, instance: String(index), direction: s.direction, peer: s.peer, route: s.route };
      requests.push(
        `msup_sidecar_requests_total${labels({ ...base, classification: 'success' })} ${s.successes}`,
      );
      requests.push(
        `msup_sidecar_requests_total${labels({ ...base, classification: 'failure' })} ${s.requests - s.successes}`,
      );
      if (s.direction === 'outbound') retries.push(`msup_sidecar_retries_total${labels(base)} ${s.retries}`);
      let cumulative = 0;
      LATENCY_BUCKETS_MS.forEach((bound, i) => {
        cumulative += s.buckets[i] ?? 0;
        latency.push(
          `msup_sidecar_request_duration_seconds_bucket${labels({ ...base, le: seconds(bound) })} ${cumulative}`,
        );
      });
      latency.push(
        `msup_sidecar_request_duration_seconds_bucket${labels({ ...base, le: '+Inf' })} ${s.requests}`,
      );
      latency.push(`msup_sidecar_request_duration_seconds_sum${labels(base)} ${s.sumMs / 1000}`);
      latency.push(`msup_sidecar_request_duration_seconds_count${labels(base)} ${s.requests}`);
    }
  }
  return `${[...requests, ...retries, ...latency].join('\n')}\n`;
}
