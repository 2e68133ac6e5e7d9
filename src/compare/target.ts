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

/**
 * What is wrong with a load's URL path, or null: it must start with `/` and hold no space or control
 * character (a URL would drop or encode them, and the load would not go where it says).
 */
export function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return `it must start with "/"`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\s\x00-\x1f\x7f]/.test(path)) return 'it must not hold spaces or control characters';
  if (path.length > 2048) return 'it is longer than 2048 characters';
  // The request goes out as written: a fragment or a dot segment would be resolved away by the client,
  // and the load would reach another path (and maybe another service) than the one reported.
  if (path.includes('#')) return 'it must not hold a fragment ("#")';
  const pathname = path.split('?')[0] as string;
  if (pathname.split('/').some((segment) => segment === '.' || segment === '..'))
    return 'it must not hold "." or ".." segments';
  if (path.startsWith('//')) return 'it must not start with "//" (a URL parser reads a host there)';
  // The load generator's URL parser resolves %2e%2e and \ too, and encodes what a request line may not hold.
  let url: URL;
  try {
    url = new URL(path, 'http://localhost');
  } catch {
    return 'it is not a valid URL path';
  }
  const sent = `${url.pathname}${url.search}`;
  if (sent !== path) return `it would be sent as "${sent}": give that`;
  return null;
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
