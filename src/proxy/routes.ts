// The shared front's routing, as an nginx server block does it: a route for the request's host wins
// over one without a host, then the longest path prefix (on a segment boundary). Pure.

export interface Route {
  /** A path prefix such as `/api`; matches `/api`, `/api/...` and `/api?...`, not `/apix`. */
  path?: string | undefined;
  /** A host name, without port, compared case-insensitively (`admin.localhost`). */
  host?: string | undefined;
  service: string;
  /** Remove `path` from the request's path before it goes to the instance. */
  stripPrefix?: boolean | undefined;
}

export interface RouteMatch {
  route: Route;
  /** The path (with query) to send upstream. */
  path: string;
}

function normalizePrefix(prefix: string | undefined): string {
  if (!prefix || prefix === '/') return '/';
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

function prefixMatches(prefix: string, url: string): boolean {
  if (prefix === '/') return true;
  if (!url.startsWith(prefix)) return false;
  const next = url.charCodeAt(prefix.length);
  // end of string, '/', '?' or '#'
  return Number.isNaN(next) || next === 47 || next === 63 || next === 35;
}

/** `Host: Admin.localhost:8080` → `admin.localhost`; IPv6 literals keep their brackets. */
export function hostName(header: string | undefined): string {
  if (!header) return '';
  const lower = header.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/** Routes sorted once: host routes first, then longer prefixes first. */
export function sortRoutes(routes: readonly Route[]): Route[] {
  return [...routes].sort((a, b) => {
    if ((a.host === undefined) !== (b.host === undefined)) return a.host === undefined ? 1 : -1;
    return normalizePrefix(b.path).length - normalizePrefix(a.path).length;
  });
}

/** The route for a request, from routes sorted by `sortRoutes`. */
export function matchRoute(sorted: readonly Route[], host: string, url: string): RouteMatch | undefined {
  for (const route of sorted) {
    if (route.host !== undefined && route.host.toLowerCase() !== host) continue;
    const prefix = normalizePrefix(route.path);
    if (!prefixMatches(prefix, url)) continue;
    if (!route.stripPrefix || prefix === '/') return { route, path: url };
    const rest = url.slice(prefix.length);
    return { route, path: rest.startsWith('/') ? rest : `/${rest}` };
  }
  return undefined;
}

/** The body of the 404 for an unmatched request: what was asked and which routes exist. */
export function describeRoutes(sorted: readonly Route[], host: string, url: string): string {
  const lines = sorted.map((r) => {
    const where = `${r.host ?? '*'}${normalizePrefix(r.path)}`;
    return `  ${where} -> ${r.service}${r.stripPrefix ? ' (prefix stripped)' : ''}`;
  });
  return `no route for ${host || '(no host)'}${url}\nroutes:\n${lines.join('\n')}`;
}
