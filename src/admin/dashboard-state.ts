// What the dashboard shows each second, read from the same metric families /metrics renders: per service
// its instances (state, ready, restarts, uptime, CPU, memory, last exit) and the last second's requests
// per second, latency p50/p99 and errors per second, from the change in the counters since the last
// sample. Pure: the clock is passed in.
import { quantile } from '../histogram.js';
import type { HistogramSample, InstanceInfo, MetricFamily, MetricSample, ServiceInfo } from '../types.js';

export interface DashboardInstance {
  index: number;
  state: string;
  ready: boolean;
  pid: number | null;
  restarts: number;
  uptimeMs: number | null;
  cpuPercent: number | null;
  memoryBytes: number | null;
  lastExit: {
    code: number | null;
    signal: string | null;
    at: number;
    reason?: string;
    /** Why it could not start at all (no code, no signal). */
    error?: string;
  } | null;
}

export interface DashboardService {
  name: string;
  url: string | null;
  instances: DashboardInstance[];
  /** Over the last sample period; null on the first sample or for a service without a proxy. */
  rps: number | null;
  /** Seconds; null without a request in the period. */
  p50: number | null;
  p99: number | null;
  /** 5xx answers (the instances' and msup's own) per second. */
  errors: number | null;
  inFlight: number;
}

export interface DashboardState {
  /** When the rates were sampled (epoch ms); a refresh between samples keeps it. */
  at: number;
  services: DashboardService[];
}

interface Totals {
  answers: number;
  errors: number;
  counts: number[];
}

const samplesOf = (families: readonly MetricFamily[], name: string) =>
  (families.find((f) => f.name === name)?.samples ?? []) as readonly (MetricSample | HistogramSample)[];

/** Keeps the previous sample's totals to turn counters into rates. */
export class DashboardSampler {
  #previous: { at: number; totals: Map<string, Totals>; cpu: Map<string, number> } | undefined;
  #last: DashboardState | undefined;

  /**
   * Nobody watches any more: the next sample starts afresh (its rates are not averaged over the time
   * nobody watched, and no old state is shown as the present).
   */
  reset(): void {
    this.#previous = undefined;
    this.#last = undefined;
  }

  /**
   * The last sample with the instances as they are now (an instance changed state between two samples):
   * the rates, CPU and memory of the last sample, and its `at`. Undefined before the first sample.
   */
  refresh(services: readonly ServiceInfo[], now: number): DashboardState | undefined {
    const last = this.#last;
    if (!last) return undefined;
    const before = new Map(last.services.map((s) => [s.name, s]));
    return {
      at: last.at,
      services: services.map((service) => {
        const was = before.get(service.name);
        const usage = new Map(was?.instances.map((i) => [i.index, i]));
        return {
          ...(was ?? { rps: null, p50: null, p99: null, errors: null, inFlight: 0 }),
          name: service.name,
          url: service.url,
          instances: service.instances.map((i) =>
            instanceRow(
              i,
              now,
              usage.get(i.index)?.cpuPercent ?? null,
              usage.get(i.index)?.memoryBytes ?? null,
            ),
          ),
        };
      }),
    };
  }

  sample(families: readonly MetricFamily[], services: readonly ServiceInfo[], now: number): DashboardState {
    const totals = new Map<string, Totals>();
    const totalsOf = (service: string) => {
      let t = totals.get(service);
      if (!t) {
        t = { answers: 0, errors: 0, counts: [] };
        totals.set(service, t);
      }
      return t;
    };
    for (const s of samplesOf(families, 'msup_http_responses_total') as MetricSample[]) {
      const t = totalsOf(s.labels.service ?? '');
      t.answers += s.value;
      if (s.labels.code === '5xx') t.errors += s.value;
    }
    for (const s of samplesOf(families, 'msup_proxy_responses_total') as MetricSample[]) {
      const t = totalsOf(s.labels.service ?? '');
      t.answers += s.value;
      if (Number(s.labels.code) >= 500) t.errors += s.value;
    }
    let bounds: readonly number[] = [];
    for (const h of samplesOf(families, 'msup_http_request_duration_seconds') as HistogramSample[]) {
      const t = totalsOf(h.labels.service ?? '');
      bounds = h.bounds;
      for (let i = 0; i < h.counts.length; i++) t.counts[i] = (t.counts[i] ?? 0) + (h.counts[i] as number);
    }
    const cpu = new Map<string, number>();
    for (const s of samplesOf(families, 'msup_instance_cpu_seconds_total') as MetricSample[]) {
      cpu.set(`${s.labels.service}#${s.labels.instance}`, s.value);
    }
    const rss = new Map<string, number>();
    for (const s of samplesOf(families, 'msup_instance_resident_memory_bytes') as MetricSample[]) {
      rss.set(`${s.labels.service}#${s.labels.instance}`, s.value);
    }
    const inFlight = new Map<string, number>();
    for (const s of samplesOf(families, 'msup_in_flight') as MetricSample[]) {
      const name = s.labels.service ?? '';
      inFlight.set(name, (inFlight.get(name) ?? 0) + s.value);
    }
    const previous = this.#previous;
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const out: DashboardService[] = services.map((service) => {
      // A service with a front and no request yet has no series: its rate is 0, not unknown.
      const t =
        totals.get(service.name) ??
        (service.url !== null ? { answers: 0, errors: 0, counts: [] } : undefined);
      const before = previous?.totals.get(service.name);
      let rps: number | null = null;
      let errors: number | null = null;
      let p50: number | null = null;
      let p99: number | null = null;
      if (t && seconds > 0) {
        const was = before ?? { answers: 0, errors: 0, counts: [] };
        rps = round(Math.max(0, t.answers - was.answers) / seconds, 2);
        errors = round(Math.max(0, t.errors - was.errors) / seconds, 2);
        const delta = t.counts.map((n, i) => Math.max(0, n - (was.counts[i] ?? 0)));
        const q50 = quantile(bounds, delta, 0.5);
        const q99 = quantile(bounds, delta, 0.99);
        p50 = Number.isNaN(q50) ? null : q50;
        p99 = Number.isNaN(q99) ? null : q99;
      }
      return {
        name: service.name,
        url: service.url,
        rps,
        p50,
        p99,
        errors,
        inFlight: inFlight.get(service.name) ?? 0,
        instances: service.instances.map((i) => {
          const key = `${service.name}#${i.index}`;
          const used = cpu.get(key);
          const usedBefore = previous?.cpu.get(key);
          const cpuPercent =
            used !== undefined && usedBefore !== undefined && seconds > 0 && used >= usedBefore
              ? round(((used - usedBefore) / seconds) * 100, 1)
              : null;
          return instanceRow(i, now, cpuPercent, rss.get(key) ?? null);
        }),
      };
    });
    this.#previous = { at: now, totals, cpu };
    this.#last = { at: now, services: out };
    return this.#last;
  }
}

function instanceRow(
  i: InstanceInfo,
  now: number,
  cpuPercent: number | null,
  memoryBytes: number | null,
): DashboardInstance {
  return {
    index: i.index,
    state: i.state,
    ready: i.ready,
    pid: i.pid,
    restarts: i.restarts,
    uptimeMs: i.startedAt === null ? null : Math.max(0, now - i.startedAt),
    cpuPercent,
    memoryBytes,
    lastExit: i.lastExit
      ? {
          code: i.lastExit.code,
          signal: i.lastExit.signal,
          at: i.lastExit.at,
          ...(i.lastExit.reason ? { reason: i.lastExit.reason } : {}),
          ...(i.lastExit.error ? { error: i.lastExit.error } : {}),
        }
      : null,
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
