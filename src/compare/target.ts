// Where a compare sends its load, and what an instance says of itself that a compare reads. Pure.
import { matchRoute, sortRoutes } from '../proxy/routes.js';
import type { InstanceInfo, ResolvedConfig } from '../types.js';

export interface Target {
  /** `front`: the shared front (`proxy.port`); `service`: the service's own front port. */
  via: 'front' | 'service';
  path: string;
  service: string;
}

/**
 * Without `path`: the shared front's route for `/` (the route a browser's first request takes), else its
 * first route's path, else `/` of the first HTTP service with a front port. With `path`: the shared
 * front's route for that path (as the front matches it: longest prefix, routes without a host), else the
 * first HTTP service with a front port. Null when nothing answers HTTP.
 */
export function pickTarget(config: ResolvedConfig, path?: string): Target | null {
  if (config.proxy.port !== null) {
    const open = config.proxy.routes.filter((r) => r.host === undefined);
    if (path !== undefined) {
      const match = matchRoute(sortRoutes(open), '', path);
      if (match) return { via: 'front', path, service: match.route.service };
    } else {
      const root = open.find((r) => r.path === undefined || r.path === '/');
      if (root) return { via: 'front', path: '/', service: root.service };
      const first = open.find((r) => r.path !== undefined);
      if (first?.path) return { via: 'front', path: first.path, service: first.service };
    }
  }
  const service = config.services.find((s) => s.port !== null && s.balancing.mode === 'http');
  return service ? { via: 'service', path: path ?? '/', service: service.name } : null;
}

/** The function runtime's view of an on-demand instance (its `details`), where it has one. */
export interface OnDemandDetails {
  coldStarts: number;
  environments: { warm: number; starting: number };
  list: { pid: number | null; state: string; initMs: number | null }[];
  cost: { requests: number; gbSeconds: number; usd: { total: number } };
}

/** An instance that starts environments on demand says so in its details (cold starts, environments). */
export function onDemand(info: InstanceInfo | undefined): OnDemandDetails | null {
  const d = info?.details;
  if (!d || typeof d.coldStarts !== 'number' || !Array.isArray(d.list)) return null;
  return d as unknown as OnDemandDetails;
}
