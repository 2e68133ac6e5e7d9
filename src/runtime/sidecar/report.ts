// The sidecars' golden metrics and circuit breakers as msup reports them: a summary per route and the
// breakers per peer for `msup status --json` (an instance's details), metric families for the admin
// listener, and Prometheus text for every sidecar of a run. Pure.
import type { BreakerState, PeerBreakers } from '../../sidecar/breaker.js';
import {
  type GoldenSummary,
  LATENCY_BUCKETS_MS,
  type SeriesSnapshot,
  summarize,
} from '../../sidecar/metrics.js';
import type { HistogramSample, MetricFamily, MetricSample } from '../../types.js';

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

/**
 * The series of several sidecars of one instance slot added up, series by series (direction, peer,
 * route): counts, buckets and sums, so that the slot's counters go on across its sidecars' restarts.
 */
export function sumSeries(parts: readonly (readonly SeriesSnapshot[])[]): SeriesSnapshot[] {
  const sums = new Map<string, SeriesSnapshot>();
  for (const part of parts) {
    for (const s of part) {
      const key = JSON.stringify([s.direction, s.peer, s.route]);
      const sum = sums.get(key);
      if (!sum) {
        sums.set(key, { ...s, buckets: [...s.buckets] });
        continue;
      }
      sum.requests += s.requests;
      sum.successes += s.successes;
      sum.retries += s.retries;
      sum.sumMs += s.sumMs;
      sum.rps += s.rps;
      s.buckets.forEach((n, i) => {
        sum.buckets[i] = (sum.buckets[i] ?? 0) + n;
      });
    }
  }
  return [...sums.values()];
}

/** Ejections per peer of several sidecars, added up. */
export function sumEjections(parts: readonly (readonly PeerBreakers[])[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const part of parts) for (const b of part) sums.set(b.peer, (sums.get(b.peer) ?? 0) + b.ejections);
  return sums;
}

/** One instance of a peer as a sidecar's circuit breaker sees it, in status. */
export interface BreakerMemberStatus {
  /** Where the sidecar calls it: the peer's sidecar's mesh port, or the instance itself outside the mesh. */
  address: string;
  /** The peer's instance index, or null when msup cannot tell (an instance outside the mesh). */
  instance: number | null;
  state: BreakerState;
  /** Failures in a row while closed. */
  consecutiveFailures: number;
  /** When it was ejected (the first ejection of those in a row), or null when closed. ISO time. */
  since: string | null;
  /** When the current ejection ends and a trial request may go (half-open), or null when closed. ISO time. */
  until: string | null;
  /** Ejections in a row, without a success between them. */
  ejectionsInRow: number;
}

/** A sidecar's circuit breaker for the calls to one peer service, in status. */
export interface PeerBreakerStatus {
  /** Instances of the peer whose breaker is not closed (open or half-open). */
  ejected: number;
  /** Ejections since this sidecar started. */
  ejections: number;
  /** Every instance of the peer in rotation. */
  members: BreakerMemberStatus[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The breakers as status shows them, by peer; `instanceAt` names the peer's instance at an address. */
export function breakerStatus(
  breakers: readonly PeerBreakers[],
  instanceAt: (peer: string, address: string) => number | null,
): Record<string, PeerBreakerStatus> {
  const status: Record<string, PeerBreakerStatus> = {};
  for (const { peer, ejections, members } of breakers) {
    status[peer] = {
      ejected: members.filter((m) => m.state !== 'closed').length,
      ejections,
      members: members.map((m) => ({
        address: m.address,
        instance: instanceAt(peer, m.address),
        state: m.state,
        consecutiveFailures: m.consecutiveFailures,
        since: iso(m.since),
        until: iso(m.until),
        ejectionsInRow: m.ejections,
      })),
    };
  }
  return status;
}

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/** The breakers' samples: members per state, and ejections, by peer (without service and instance). */
function breakerSamples(breakers: readonly PeerBreakers[]): {
  state: MetricSample[];
  ejections: MetricSample[];
} {
  const state: MetricSample[] = [];
  const ejections: MetricSample[] = [];
  for (const b of breakers) {
    for (const s of BREAKER_STATES)
      state.push({
        labels: { peer: b.peer, state: s },
        value: b.members.filter((m) => m.state === s).length,
      });
    ejections.push({ labels: { peer: b.peer }, value: b.ejections });
  }
  return { state, ejections };
}

/**
 * One instance's series as metric families for the admin listener's registry (RunningInstance.metrics):
 * the same names, labels and buckets as prometheusText, without `service` and `instance`, which the
 * supervisor adds.
 */
export function sidecarFamilies(
  series: readonly SeriesSnapshot[],
  breakers: readonly PeerBreakers[] = [],
): MetricFamily[] {
  const requests: MetricSample[] = [];
  const retries: MetricSample[] = [];
  const latency: HistogramSample[] = [];
  for (const s of series) {
    const base = { direction: s.direction, peer: s.peer, route: s.route };
    requests.push({ labels: { ...base, classification: 'success' }, value: s.successes });
    requests.push({ labels: { ...base, classification: 'failure' }, value: s.requests - s.successes });
    if (s.direction === 'outbound') retries.push({ labels: base, value: s.retries });
    latency.push({ labels: base, bounds: BOUNDS_S, counts: s.buckets, sum: s.sumMs / 1000 });
  }
  return [
    { name: 'msup_sidecar_requests_total', help: HELP.requests, type: 'counter', samples: requests },
    { name: 'msup_sidecar_retries_total', help: HELP.retries, type: 'counter', samples: retries },
    {
      name: 'msup_sidecar_request_duration_seconds',
      help: HELP.latency,
      type: 'histogram',
      samples: latency,
    },
    ...breakerFamilies(breakers),
  ];
}

/** The breakers' families (none without a breaker or a peer). */
function breakerFamilies(breakers: readonly PeerBreakers[]): MetricFamily[] {
  if (breakers.length === 0) return [];
  const { state, ejections } = breakerSamples(breakers);
  return [
    { name: 'msup_sidecar_breaker_state', help: HELP.breakerState, type: 'gauge', samples: state },
    {
      name: 'msup_sidecar_breaker_ejections_total',
      help: HELP.breakerEjections,
      type: 'counter',
      samples: ejections,
    },
  ];
}

const BOUNDS_S = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

const HELP = {
  requests:
    'Requests through a sidecar, by direction, peer, route and outcome (success: answered below 500).',
  retries: 'Tries after the first of calls to other services.',
  latency: 'Time from a request reaching a sidecar to the end of its response.',
  breakerState:
    "Instances of a called service (peer) in each state of a sidecar's circuit breaker: closed (in rotation), open (ejected), half-open (ejection over, a trial request may go).",
  breakerEjections: "Times a sidecar's circuit breaker ejected an instance of a called service (peer).",
};

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
 * One entry per instance slot (service and index): of those given oldest first, the last, in the order
 * each slot was first seen. Two incarnations of a slot (a rolling restart) would write the same series.
 */
function newestPerSlot<T extends { service: string; index: number }>(instances: readonly T[]): T[] {
  const bySlot = new Map<string, T>();
  for (const i of instances) bySlot.set(JSON.stringify([i.service, i.index]), i);
  return [...bySlot.values()];
}

/** A family's HELP and TYPE lines, its samples to follow. */
function head(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
}

/**
 * Prometheus text exposition (version 0.0.4) of the sidecars' series: a counter of requests by outcome
 * and a latency histogram, labelled by service, instance, direction, peer and route. An instance listed
 * more than once (the old and the new sidecar of a rolling restart, oldest first) is written once: its
 * last entry, the newest.
 */
export function prometheusText(
  instances: readonly {
    service: string;
    index: number;
    series: readonly SeriesSnapshot[];
    breakers?: readonly PeerBreakers[];
  }[],
): string {
  const requests = head('msup_sidecar_requests_total', HELP.requests, 'counter');
  const retries = head('msup_sidecar_retries_total', HELP.retries, 'counter');
  const latency = head('msup_sidecar_request_duration_seconds', HELP.latency, 'histogram');
  const breakerState = head('msup_sidecar_breaker_state', HELP.breakerState, 'gauge');
  const breakerEjections = head('msup_sidecar_breaker_ejections_total', HELP.breakerEjections, 'counter');
  for (const { service, index, series, breakers = [] } of newestPerSlot(instances)) {
    const { state, ejections } = breakerSamples(breakers);
    const where = { service, instance: String(index) };
    for (const s of state)
      breakerState.push(`msup_sidecar_breaker_state${labels({ ...where, ...s.labels })} ${s.value}`);
    for (const s of ejections)
      breakerEjections.push(
        `msup_sidecar_breaker_ejections_total${labels({ ...where, ...s.labels })} ${s.value}`,
      );
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
  return `${[...requests, ...retries, ...latency, ...breakerState, ...breakerEjections].join('\n')}\n`;
}
