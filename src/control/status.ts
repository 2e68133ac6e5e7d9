// Builds what `msup status` shows (StatusV1) from the supervisor's view and two usage samples. Pure.
import type { InstanceInfo, ServiceInfo } from '../types.js';
import type { InstanceStatus, StatusV1 } from './protocol.js';

export interface UsageSample {
  /** Instance id → CPU ms used so far and resident bytes. */
  usage: ReadonlyMap<string, { cpuMs: number; rssBytes: number }>;
  at: number;
}

function instanceStatus(i: InstanceInfo, before: UsageSample, after: UsageSample): InstanceStatus {
  const a = i.id === null ? undefined : before.usage.get(i.id);
  const b = i.id === null ? undefined : after.usage.get(i.id);
  const elapsed = after.at - before.at;
  const cpuPercent =
    a && b && elapsed > 0 ? Math.max(0, Math.round(((b.cpuMs - a.cpuMs) / elapsed) * 1000) / 10) : null;
  return {
    index: i.index,
    runtime: i.runtime,
    id: i.id,
    pid: i.pid,
    endpoint: i.endpoint,
    port: i.port,
    state: i.state,
    ready: i.ready,
    restarts: i.restarts,
    uptimeMs: i.startedAt === null ? null : after.at - i.startedAt,
    cpuPercent,
    memoryBytes: b?.rssBytes ?? null,
    lastExit: i.lastExit
      ? {
          code: i.lastExit.code,
          signal: i.lastExit.signal,
          at: new Date(i.lastExit.at).toISOString(),
          ...(i.lastExit.reason ? { reason: i.lastExit.reason } : {}),
          ...(i.lastExit.error ? { error: i.lastExit.error } : {}),
          ...(i.lastExit.unhealthy ? { unhealthy: true as const } : {}),
        }
      : null,
    lastProbe: i.lastProbe
      ? { ok: i.lastProbe.ok, detail: i.lastProbe.detail, at: new Date(i.lastProbe.at).toISOString() }
      : null,
    ...(i.details ? { details: i.details } : {}),
    ...(i.blocked ? { blocked: i.blocked } : {}),
  };
}

export function buildStatus(
  meta: {
    project: string;
    configFile: string | null;
    pid: number;
    startedAt: number;
    sharedFront: string | null;
    dashboard: string | null;
    /**
     * Every instance ready (or finished cleanly): the same verdict start() waits for. A service scaled
     * to 0 instances makes the status not ready on top of it (its front answers 503).
     */
    ready: boolean;
  },
  services: readonly ServiceInfo[],
  before: UsageSample,
  after: UsageSample,
): StatusV1 {
  return {
    version: 1,
    project: meta.project,
    configFile: meta.configFile,
    sharedFront: meta.sharedFront,
    dashboard: meta.dashboard,
    pid: meta.pid,
    startedAt: new Date(meta.startedAt).toISOString(),
    ready: meta.ready && services.every((s) => s.instances.length > 0),
    services: services.map((s) => ({
      name: s.name,
      url: s.url,
      instances: s.instances.map((i) => instanceStatus(i, before, after)),
    })),
  };
}
