// The names and paths an AWS SAM template must have once each: the logical ids of the functions, their
// APIs and what SAM makes of them, and the paths of the shared front's routes on its one HttpApi (which
// matches paths, not hosts). Two services that would share one are refused (MSUP_CONFIG_INVALID). Pure.
import { MsupError } from '../errors.js';
import type { ResolvedConfig, ResolvedService } from '../types.js';
import { routesTo } from './functions.js';

/** A CloudFormation logical id: letters and digits only, starting with a letter. */
export function logicalId(name: string): string {
  const id = name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
  return /^[A-Za-z]/.test(id) ? id : `Fn${id}`;
}

/** A route's path as msup's router reads it, without the trailing slash: '' for the root. */
export const basePath = (path: string | undefined) => (path ?? '/').replace(/\/$/, '');

/**
 * The shared front's routes to a service, one per path: API Gateway's routes match paths only, so routes
 * that differ only by host are one route when they go to the same service; to two services, refused.
 */
export function sharedRoutes(config: ResolvedConfig, s: ResolvedService) {
  const seen = new Set<string>();
  return routesTo(config, s).filter((route) => {
    const base = basePath(route.path);
    if (seen.has(base)) return false;
    seen.add(base);
    return true;
  });
}

/** Refuses routes of the shared front that API Gateway cannot tell apart (one path, two services). */
export function checkSharedPaths(config: ResolvedConfig, exported: ReadonlySet<string>) {
  const first = new Map<string, number>();
  config.proxy.routes.forEach((route, i) => {
    if (!exported.has(route.service)) return;
    const base = basePath(route.path);
    const j = first.get(base);
    if (j === undefined) {
      first.set(base, i);
      return;
    }
    const other = config.proxy.routes[j] as (typeof config.proxy.routes)[number];
    if (other.service === route.service) return;
    const where = (r: typeof route, k: number) =>
      `proxy.routes.${k} (${r.host ?? 'any host'}, ${base || '/'} -> ${r.service})`;
    const message = `${where(other, j)} and ${where(route, i)} are one route on the HttpApi, which matches paths only: give them different paths, or give one service a port (an API of its own)`;
    throw new MsupError('MSUP_CONFIG_INVALID', `cannot export to SAM: ${message}`, {
      issues: [{ path: `proxy.routes.${i}`, message }],
    });
  });
}

/** A logical id the template has, or SAM makes, and what it is (for the error). */
interface LogicalId {
  id: string;
  what: string;
  /** The shared front's: one for every service with a route. */
  shared?: boolean;
}

/**
 * The logical ids a service's function takes in the template (`Outputs.` for an output's), and those SAM
 * makes of them when it transforms it (the function's role, its API's stage, its alias): each must be the
 * only one of its name.
 */
function idsOf(config: ResolvedConfig, s: ResolvedService): LogicalId[] {
  const id = logicalId(s.name);
  const ids: LogicalId[] = [
    { id, what: 'its function' },
    { id: `${id}Role`, what: "its function's role (made by SAM)" },
  ];
  if (s.function.minInstances > 0)
    ids.push({ id: `${id}Aliaslive`, what: "its function's alias (made by SAM)" });
  if (s.port !== null)
    ids.push(
      { id: `${id}Api`, what: 'its own API' },
      { id: `${id}ApiApiGatewayDefaultStage`, what: "its own API's stage (made by SAM)" },
      { id: `Outputs.${id}Url`, what: "its own API's URL" },
    );
  if (routesTo(config, s).length > 0)
    ids.push(
      { id: 'ServerlessHttpApi', what: "the shared front's API (made by SAM)", shared: true },
      {
        id: 'ServerlessHttpApiApiGatewayDefaultStage',
        what: "the shared front's API stage (made by SAM)",
        shared: true,
      },
      { id: 'Outputs.SharedFrontUrl', what: "the shared front's URL", shared: true },
    );
  return ids;
}

/** Refuses two services whose logical ids meet (`web-api`'s function and `web`'s API are both `WebApi`). */
export function checkLogicalIds(config: ResolvedConfig, services: readonly ResolvedService[]) {
  const taken = new Map<string, LogicalId & { service: string }>();
  for (const s of services)
    for (const { id, what, shared } of idsOf(config, s)) {
      const other = taken.get(id);
      // The shared front's API is one for every service with a route: only something else may not take its
      // id, whichever service it is of (`serverless-http`'s own API is `ServerlessHttpApi` too).
      if (other && !(other.shared && shared)) {
        const message =
          other.service === s.name
            ? `"${s.name}": ${other.what} and ${what} both become "${id}" in CloudFormation: rename it`
            : `"${other.service}" (${other.what}) and "${s.name}" (${what}) both become "${id}" in CloudFormation: rename one`;
        throw new MsupError('MSUP_CONFIG_INVALID', `cannot export to SAM: ${message}`, {
          issues: [{ path: `services.${s.name}`, message }],
          service: s.name,
        });
      }
      taken.set(id, { id, service: s.name, what, ...(shared ? { shared } : {}) });
    }
}
